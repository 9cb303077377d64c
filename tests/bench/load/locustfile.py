"""The campaign's busiest day, for Locust (headless, bounded): bureaus working their inboxes,
inspectors on site entering checklist items, the public reading published results and draws.
Run by ``tests/bench/bench_load.py``, which starts the stack and writes the data file it reads
(``SPOTCHECK_LOAD_DATA``: tokens minted for demo identities, and ids to work on)."""
from __future__ import annotations

import itertools
import json
import os
import random

from locust import HttpUser, between, task

DATA = json.loads(open(os.environ["SPOTCHECK_LOAD_DATA"], encoding="utf-8").read())
_records = itertools.cycle(DATA.get("records") or [None])


class Bureau(HttpUser):
    """A city or county bureau: its task inbox, a task, the visit calendar."""

    weight = 3
    wait_time = between(0.2, 1.0)

    def on_start(self):
        self.h = {"Authorization": f"Bearer {random.choice(DATA['bureau_tokens'])}"}

    @task(4)
    def inbox(self):
        r = self.client.get("/api/v1/scheduling/tasks", params={"limit": 50}, headers=self.h, name="GET /scheduling/tasks")
        items = r.json().get("items", []) if r.ok else []
        if items:
            t = random.choice(items)
            self.client.get(f"/api/v1/scheduling/tasks/{t['id']}", headers=self.h, name="GET /scheduling/tasks/{id}")

    @task(1)
    def calendar(self):
        self.client.get("/api/v1/scheduling/visits", params={"limit": 50}, headers=self.h, name="GET /scheduling/visits")


class Inspector(HttpUser):
    """A team member on site: the record, then one checklist item answered (retried safely)."""

    weight = 5
    wait_time = between(0.5, 2.0)

    def on_start(self):
        self.rec = next(_records)

    @task
    def answer_item(self):
        if not self.rec:  # no inspection service in this installation
            self.client.get("/api/v1/registry/enterprises", params={"limit": 20},
                            headers={"Authorization": f"Bearer {DATA['province_token']}"}, name="GET /registry/enterprises")
            return
        h = {"Authorization": f"Bearer {self.rec['token']}"}
        r = self.client.get(self.rec["path"], headers=h, name="GET record")
        if r.ok and self.rec.get("item_path"):
            etag = r.headers.get("etag", "")
            body = random.choice(self.rec["item_bodies"])
            self.client.put(self.rec["item_path"], json=body, headers={**h, "If-Match": etag, "Idempotency-Key": os.urandom(8).hex()},
                            name="PUT record item")


class Public(HttpUser):
    """Anyone: published results and the public view of a draw (rate-limited per address)."""

    weight = 2
    wait_time = between(0.5, 2.0)

    @task(3)
    def results(self):
        if DATA.get("public_results_path"):
            with self.client.get(DATA["public_results_path"], params={"limit": 20}, name="GET public results",
                                 catch_response=True) as r:
                if r.status_code == 429:  # the limit doing its job: one load generator is one address
                    r.success()

    @task(1)
    def draw(self):
        if DATA.get("public_draw_path"):
            self.client.get(DATA["public_draw_path"], name="GET public draw")
