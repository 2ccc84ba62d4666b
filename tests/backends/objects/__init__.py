"""Tests of the objects backend family (a package so test module names do not clash)."""
