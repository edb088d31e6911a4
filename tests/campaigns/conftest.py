import pytest


@pytest.fixture(autouse=True)
def _sending(settings):
    """Campaigns go out through Anymail's test backend (django.core.mail.outbox, with the
    Anymail parameters of each message), at any hour unless a test sets quiet hours."""
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.QUIET_HOURS = (0, 0)
    settings.CAMPAIGN_SEND_RATE = 0
