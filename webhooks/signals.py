"""What processing announces. `webhooks` knows nothing of its listeners (deadletters);
`breaker_released` is heard inside webhooks, by processing."""

from django.dispatch import Signal

# An event used up its attempts (or failed permanently). Sent inside the transaction that
# marks it dead, so a listener's rows commit with it. kwargs: event, result (AttemptResult).
event_dead = Signal()

# A customer's personal data was erased from a shop's stored events. Listeners scrub
# their own free texts (webhooks.erasure.scrub_texts) and return how many rows changed.
# kwargs: shop_domain, customer_id, needles (the exact strings to remove: e-mails, phones,
# full names), event_ids (the customer's events).
customer_redacted = Signal()

# A circuit breaker lets the events that wait for it go: it closed after a successful
# probe, or staff resumed it. Sent by the breaker (webhooks.breaker), which sits below
# processing; webhooks.processing wakes the waiting events and returns how many.
# kwargs: waiting_key (what WebhookEvent.waiting_for holds for those events).
breaker_released = Signal()

# A shop's stored payloads were erased. kwargs: shop_domain.
shop_redacted = Signal()

# customers/data_request asks every app for what it stores about one customer. kwargs:
# shop_domain, customer_id, event_ids (the events the subject index finds for them). Each
# receiver returns {"section": name, "items": [json-able dicts]}.
collect_customer_data = Signal()
