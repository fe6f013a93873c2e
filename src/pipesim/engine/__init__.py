"""The engine: one replication of a scenario, where buyers meet reps.

* :mod:`pipesim.engine.model`: the SimPy model (:class:`~pipesim.engine.model.PipelineModel`)
  and :func:`~pipesim.engine.model.simulate`, which returns it with its per-lead record arrays.
* :mod:`pipesim.engine.summary`: the one summary of a replication (its ``replications.csv`` row,
  bookings, deal outcomes).
* :mod:`pipesim.engine.replication`: :func:`~pipesim.engine.replication.run_replication`, the
  pure, picklable unit of work every executor runs.
* :mod:`pipesim.engine.uncertainty`: per-replication draws of uncertain parameters.
"""
