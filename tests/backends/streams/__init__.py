"""Tests of the streams backend family (a package so test module names do not clash)."""
