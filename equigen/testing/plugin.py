"""pytest plugin (entry point ``pytest11``): equigen's hypothesis profiles.

Profiles: ``equigen-ci`` (derandomized, 40 examples, no deadline, no example database, so
runs are reproducible) and ``equigen-thorough`` (random, 1000 examples). The profile named by
the environment variable ``EQUIGEN_HYPOTHESIS_PROFILE``, else by the ini option
``equigen_hypothesis_profile``, is loaded; hypothesis's own ``--hypothesis-profile`` wins.
Without hypothesis installed the plugin does nothing. Outside pytest, equigen's searches use
:func:`active_settings` (``equigen-ci`` unless another profile was loaded).
"""

from __future__ import annotations

import os

ENV_VAR = "EQUIGEN_HYPOTHESIS_PROFILE"
PROFILES = ("equigen-ci", "equigen-thorough")


def register_profiles() -> bool:
    """Register equigen's hypothesis profiles; False when hypothesis is missing."""
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:
        return False
    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    settings.register_profile("equigen-ci", derandomize=True, max_examples=40, deadline=None,
                              database=None, suppress_health_check=quiet, print_blob=True)
    settings.register_profile("equigen-thorough", max_examples=1000, deadline=None,
                              suppress_health_check=quiet, print_blob=True)
    return True


def active_settings():
    """The hypothesis settings equigen's searches run under: the profile named by
    ``EQUIGEN_HYPOTHESIS_PROFILE`` if set; else the loaded profile, except hypothesis's own
    "default" (a plain script or ``equigen check``), which is replaced by ``equigen-ci``."""
    from hypothesis import settings

    register_profiles()
    name = os.environ.get(ENV_VAR)
    if name:
        return settings.get_profile(name)
    current = (settings.get_current_profile_name() if hasattr(settings, "get_current_profile_name")
               else getattr(settings, "_current_profile", "default"))
    return settings.get_profile("equigen-ci") if current == "default" else settings.default


def pytest_addoption(parser):
    parser.addini("equigen_hypothesis_profile", "hypothesis profile equigen loads "
                  f"({', '.join(PROFILES)}); the {ENV_VAR} environment variable overrides it", default="")


def pytest_configure(config):
    if not register_profiles():
        return
    from hypothesis import settings

    if getattr(config.option, "hypothesis_profile", None):
        return
    name = os.environ.get(ENV_VAR) or config.getini("equigen_hypothesis_profile")
    if name:
        settings.load_profile(name)
