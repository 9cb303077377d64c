"""The campaign's busiest day, for Locust (headless, bounded): bureaus working their inboxes,
inspectors on site entering checklist items and evidence photos, the public reading published
results and draws. Run by ``tests/bench/bench_load.py``, which starts the stack and writes the
data file it reads (``SPOTCHECK_LOAD_DATA``, made by ``prepare.py``)."""
from __future__ import annotations

import base64
import itertools
import json
import os
import random

from locust import HttpUser, between, task

DATA = json.loads(open(os.environ["SPOTCHECK_LOAD_DATA"], encoding="utf-8").read())
_records = itertools.cycle(DATA.get("records") or [None])
PHOTOS = [base64.b64decode(p) for p in DATA.get("photos", [])]
# think time between a user's requests, scaled: 1 = people's pace; the bench runs faster so that a few
# dozen simulated users saturate the stack (throughput is then what the stack can do, not what users ask)
PACE = float(os.environ.get("SPOTCHECK_LOAD_PACE", "1"))


class Bureau(HttpUser):
    """A city or county bureau: its task inbox, a task, the visit calendar."""

    weight = 3
    wait_time = between(0.2 * PACE, 1.0 * PACE)

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
    """A team on site: reads its record, answers a checklist item (If-Match from what it read),
    now and then uploads a photo."""

    weight = 5
    wait_time = between(0.5 * PACE, 2.0 * PACE)

    def on_start(self):
        self.rec = next(_records)

    @task(4)
    def answer_item(self):
        if not self.rec:  # no inspection service in this installation
            self.client.get("/api/v1/registry/enterprises", params={"limit": 20},
                            headers={"Authorization": f"Bearer {DATA['province_token']}"}, name="GET /registry/enterprises")
            return
        h = {"Authorization": f"Bearer {self.rec['token']}"}
        r = self.client.get(self.rec["path"], headers=h, name="GET /inspection/records/{id}")
        if not (r.ok and self.rec["codes"]):
            return
        code = random.choice(self.rec["codes"])
        item = next((i for i in r.json()["items"] if i["code"] == code), None)
        if item is None:
            return
        with self.client.put(self.rec["item_path"].format(code=code), json={"conclusion": "conforming"},
                             headers={**h, "If-Match": f'"v{item["version"]}"', "Idempotency-Key": os.urandom(8).hex()},
                             name="PUT /inspection/records/{id}/items/{code}", catch_response=True) as put:
            if put.status_code == 412:  # another inspector of the team wrote it first: optimistic locking doing its job
                put.success()

    @task(1)
    def photo(self):
        if not (self.rec and PHOTOS):
            return
        h = {"Authorization": f"Bearer {self.rec['token']}", "Content-Type": "application/octet-stream"}
        self.client.post(self.rec["evidence_path"], params={"filename": "现场照片.jpg", "purpose": "item", "item_code": random.choice(self.rec["codes"] or ["1.1"])},
                         data=random.choice(PHOTOS), headers=h, name="POST /inspection/records/{id}/evidence/upload")


class Public(HttpUser):
    """Anyone: published results and the public view of a draw."""

    weight = 2
    wait_time = between(0.5 * PACE, 2.0 * PACE)

    @task(3)
    def results(self):
        if DATA.get("public_results_path"):
            with self.client.get(DATA["public_results_path"], params={"limit": 20}, name="GET /disclosure/public/results",
                                 catch_response=True) as r:
                if r.status_code == 429:  # the per-address limit doing its job (the bench raises it; one generator is one address)
                    r.success()

    @task(1)
    def draw(self):
        if DATA.get("public_draw_path"):
            self.client.get(DATA["public_draw_path"], name="GET /sampling/public/draws/{id}")
