"""A sweep frees each checkpoint's model before it loads the next: by reference counting when
nothing else holds it, by a garbage collection when a reference cycle does (the full collection
costs 0.3-0.7 s with torch loaded, so it runs only then)."""
import gc
import weakref

from scalefit.sweep import engine
from scalefit.sweep.checkpoints import CheckpointInfo


class FakeModel:
    """Stands in for a loaded model; ``cyclic`` makes it hold itself, as some modules do."""

    def __init__(self, cyclic: bool):
        self.me = self if cyclic else None


def _measure_one(tmp_path, cyclic: bool, monkeypatch):
    loaded, collections = [], []
    real_collect = gc.collect
    monkeypatch.setattr(engine.gc, "collect", lambda *a: collections.append(1) or real_collect(*a))

    def load(info):
        model = FakeModel(cyclic)
        loaded.append(weakref.ref(model))
        return model, None

    m = engine.Measurement("probe", lambda model, info: [{"metric": "probe", "value": 1.0}])
    info = CheckpointInfo(model="m", step=1, tokens=10, lr=None)
    outcome = engine.measure_checkpoint(info, [m], tmp_path, load=load)
    assert outcome["status"] == "measured", outcome
    return loaded[0], collections


def test_a_model_no_cycle_holds_is_freed_without_a_collection(tmp_path, monkeypatch):
    gc.disable()  # so only the sweep's own collection could free a cycle
    try:
        model, collections = _measure_one(tmp_path, cyclic=False, monkeypatch=monkeypatch)
    finally:
        gc.enable()
    assert model() is None and collections == []


def test_a_model_a_cycle_holds_is_collected_before_the_next_loads(tmp_path, monkeypatch):
    gc.disable()
    try:
        model, collections = _measure_one(tmp_path, cyclic=True, monkeypatch=monkeypatch)
    finally:
        gc.enable()
    assert model() is None and collections == [1]
