from alembic import context

from services.inspection.models import metadata
from shared.migrations import run_env

run_env(context, metadata)
