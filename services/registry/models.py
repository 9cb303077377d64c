"""Registry tables. Own MetaData (not SQLModel's global one) so each service's schema stays apart."""
from __future__ import annotations

from sqlmodel import SQLModel

from shared.db import new_registry
from shared.tables import KernelTables

_registry = new_registry()


class Base(SQLModel, registry=_registry):
    pass


metadata = _registry.metadata
kernel = KernelTables(metadata)
