"""What processing announces. `webhooks` knows nothing of its listeners (deadletters)."""

from django.dispatch import Signal

# An event used up its attempts (or failed permanently). Sent inside the transaction that
# marks it dead, so a listener's rows commit with it. kwargs: event, result (AttemptResult).
event_dead = Signal()

# A customer's personal data was scrubbed from a shop's stored events. Listeners scrub
# their own copies (error messages, tracebacks). kwargs: shop_domain, needles (the exact
# strings removed: e-mail, phone, names).
customer_redacted = Signal()

# A shop's stored payloads were erased. kwargs: shop_domain.
shop_redacted = Signal()

# customers/data_request asks every app for what it stores about one customer. kwargs:
# shop_domain, customer_id, event_ids (events that mention the customer), needles (e-mail,
# phone). Each receiver returns {"section": name, "items": [json-able dicts]}.
collect_customer_data = Signal()
