from alembic import context

from services.risk.models import metadata
from shared.migrations import run_env

run_env(context, metadata)
