"""Tables, API schemas, status enums and their rules, and workflow inputs.

Kept free of imports so that workflow code can use ``models.protocols.status`` and
``models.protocols.workflow_io`` without loading SQLAlchemy; ``models.registry`` imports
every table for alembic and the database code.
"""
