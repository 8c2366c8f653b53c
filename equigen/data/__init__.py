"""Simulators and exact solvers that experiments train on."""
