"""Sending a campaign: its audience planned into the ledger (audience.py), batches claimed
and marked in the ledger (ledger.py), each message built with its headers, tracked links
and pixel (mail.py), and the batches sent through Django's mail API, that is Anymail
(batches.py)."""
