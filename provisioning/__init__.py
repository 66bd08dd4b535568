"""Deploy-time provisioning behind ``deploy_model.py``: one module per resource kind.

Never shipped to Lambda (Chalice packages only app.py, chalicelib/ and
requirements.txt) and never imported by ``chalicelib``. Every resource module
offers the same interface: ``apply(ctx)`` creates or updates, ``delete(ctx)``
removes; each returns the :class:`~provisioning.common.Outcome` records it
printed. With ``ctx.dry_run`` both only read, so together they are the plan.
"""
