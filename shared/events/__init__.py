"""CloudEvents over NATS JetStream with a transactional outbox and idempotent consumers."""
from .envelope import make_event, subject_for
from .outbox import emit

__all__ = ["make_event", "subject_for", "emit"]
