"""Email templates: a sandboxed Liquid environment (sandbox.py, filters.py), what a
template may see of a recipient (data.py), the email HTML pipeline run once per version
(html.py), validation on save (lint.py), versioning (services.py) and rendering for one
or many recipients with previews (selectors.py)."""
