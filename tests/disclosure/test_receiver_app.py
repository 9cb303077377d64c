"""The demo's webhook receiver as `spotcheck run` starts it (``uvicorn --factory``): uvicorn must see an ASGI 3
app, or every delivery to it fails (a bound method was taken for ASGI 2 and the stack did not start)."""
from uvicorn.config import Config


def test_receiver_factory_is_taken_for_asgi3(tmp_path, monkeypatch):
    monkeypatch.setenv("SPOTCHECK_VAR_DIR", str(tmp_path))
    config = Config("services.disclosure.receiver:create_app", factory=True, lifespan="off")
    config.load()
    assert config.interface == "asgi3"
