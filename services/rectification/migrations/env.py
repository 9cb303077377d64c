from alembic import context

from services.rectification.models import metadata
from shared.migrations import run_env

run_env(context, metadata)
