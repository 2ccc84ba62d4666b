"""The Numenta Anomaly Benchmark (NAB): its corpus layout and its scoring, reimplemented.

* :mod:`.corpus`: the series under ``DIR/data/``, their labelled windows and categories;
* :mod:`.sweep`: NAB's per-point weights S(t) (scaled sigmoid around labelled windows) and the
  score of one series at a threshold;
* :mod:`.evaluation`: threshold optimisation per profile over the corpus, normalisation between
  the null and the perfect detector, reports per category.
"""
