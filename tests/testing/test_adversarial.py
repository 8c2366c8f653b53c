"""Adversarial suite: the kit's documented calls catch every subtly broken layer of
``tests/testing/adversarial_layers.py`` and pass every correct one (no false alarm).

The default run searches without hypothesis's shrink phase (the same examples are tried, so
what is caught is the same; ``-m slow`` repeats the broken layers with shrinking, as a user
would see them). The measured figures are in ``docs/testing-limits.md``.
"""

import pytest

from equigen.testing import ConservationError, EquivarianceError, SymplecticityError
from tests.testing import adversarial_layers
from tests.testing.adversarial_layers import BROKEN, CASES, CORRECT, e3nn_flags

CAUGHT = (EquivarianceError, ConservationError, SymplecticityError)
#: broken layers the kit does not catch, with the reason (marked xfail(strict=True)); none now
MISSED: dict[str, str] = {}


@pytest.fixture
def no_shrink(monkeypatch):
    monkeypatch.setattr(adversarial_layers, "SHRINK", False)


def test_the_suite_has_enough_layers_of_every_family():
    assert len(BROKEN) >= 30 and len(CORRECT) >= 14
    for family in ("graph", "e3nn", "spectral", "integrator"):
        assert any(c.family == family for c in BROKEN) and any(c.family == family for c in CORRECT)
    assert len({c.name for c in CASES}) == len(CASES)


def _params(cases):
    return [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=MISSED[c.name])]
                         if c.name in MISSED else []) for c in cases]


@pytest.mark.parametrize("case", _params(BROKEN))
def test_broken_layer_is_caught(case, no_shrink):
    with pytest.raises(CAUGHT):
        case.check()


@pytest.mark.parametrize("case", _params(CORRECT))
def test_correct_layer_passes(case, no_shrink):
    case.check()


@pytest.mark.slow
@pytest.mark.parametrize("case", _params(BROKEN))
def test_broken_layer_is_caught_with_shrinking(case):
    with pytest.raises(CAUGHT) as info:
        case.check()
    assert str(info.value)


@pytest.mark.slow
def test_e3nn_checker_on_the_same_layers():
    """e3nn's single-example checker (one random rotation, parity, translation) on the layers
    it applies to: no false alarm on correct ones; it misses every batch, edge-order and
    parameter bug, which need more than one example of one element."""
    verdicts = {c.name: e3nn_flags(c) for c in CASES if c.e3nn is not None}
    assert not any(verdicts[c.name] for c in CORRECT if c.name in verdicts)
    for name in ("last-write-wins scatter", "batch-wide centroid", "sorted-batch centroid",
                 "global attention without a batch mask", "zero-initialised vector bias"):
        assert verdicts[name] is False
    for c in BROKEN:
        if c.family == "e3nn":
            assert verdicts[c.name] is True


def test_a_bounded_oscillation_over_too_short_a_run_is_flagged_with_the_reason():
    """A known limit (docs/testing-limits.md): over about one period of its energy error, a
    correct leapfrog looks like a trend; the message says so and names the fix."""
    from equigen.testing import assert_conserves

    state = tuple(t.clone() for t in adversarial_layers.OSC_STATE)
    with pytest.raises(ConservationError, match="too few to tell a bounded oscillation"):
        assert_conserves(adversarial_layers.leapfrog_osc, state, adversarial_layers._osc_energy, 5,
                         mode="bounded", rtol=0.01)
    assert_conserves(adversarial_layers.leapfrog_osc, state, adversarial_layers._osc_energy, 50,
                     mode="bounded", rtol=0.01)
