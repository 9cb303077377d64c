"""Web tests reuse the gateway's in-process fixture."""
from tests.gateway import conftest as _gateway

make_gateway = _gateway.make_gateway
