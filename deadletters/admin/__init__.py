"""Admin for dead letters: the support console. One module per screen family."""

from deadletters.admin import batches, dead_letters, links  # noqa: F401
