"""The gateway fixtures, shared with tests/gateway."""
from tests.gateway import conftest as _gateway

make_gateway = _gateway.make_gateway
gw = _gateway.gw
