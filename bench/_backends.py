"""Email backends of the benchmarks, named by dotted path in EMAIL_BACKEND (bench/ on the path)."""

from anymail.backends.test import EmailBackend
from django.core import mail


class AnymailTestBackend(EmailBackend):
    """Anymail's test backend, each message turned into its payload as any Anymail ESP's
    is (recipients parsed, metadata, tags, headers, both parts), but not kept afterwards.

    The test backend keeps every message in `mail.outbox` and finds the one it sends with
    `outbox.index(message)`: for a worker sending 50,000 messages that is a scan of the list
    per send (quadratic: 3,700 messages/s over the first 5,000, 1,900 over 30,000) and
    the whole campaign in memory, which no ESP's backend does. Emptied after each call here.
    """

    def send_messages(self, email_messages):
        try:
            return super().send_messages(email_messages)
        finally:
            mail.outbox.clear()
