def email_normalize(email: str) -> str:
    """The one spelling of an address that Tailor stores, compares and hashes."""
    return email.strip().lower()
