"""Calibration from CRM data: read an export, fit a scenario, backtest it, synthetic exports.

Reading an export:

* :mod:`pipesim.calibrate.crm`: read and normalise an export (:func:`read_crm`);
* :mod:`pipesim.calibrate.mapping`: the column / stage / source mapping (Salesforce defaults);
* :mod:`pipesim.calibrate.errors`: the errors for input that cannot be used.

Fitting a scenario (:mod:`pipesim.calibrate.fit` runs them all and builds the calibrated
scenario):

* :mod:`pipesim.calibrate.estimates`: what the fits report and what a calibration produces;
* :mod:`pipesim.calibrate.episodes`: stage episodes and outcome times from an export;
* :mod:`pipesim.calibrate.blocks`: the owner-quarter blocks the intervals resample or sum;
* :mod:`pipesim.calibrate.dwell`: stage dwell times and stall hazards (censored fits);
* :mod:`pipesim.calibrate.competing`: conversion, decision outcomes and win rates;
* :mod:`pipesim.calibrate.deal_size`, :mod:`pipesim.calibrate.arrivals`,
  :mod:`pipesim.calibrate.reps`: deal sizes, arrival rates, reps' win rates and cycle times;
* :mod:`pipesim.calibrate.observables`: the fits' point values on simulated histories;
* :mod:`pipesim.calibrate.onto_scenario`: the fits mapped onto a scenario;
* :mod:`pipesim.calibrate.selection`: the selection correction and simulated spread.

Checking and testing a scenario against history:

* :mod:`pipesim.calibrate.pipeline_as_of`: an export's open pipeline at a past date;
* :mod:`pipesim.calibrate.backtest`: run a scenario from past dates and judge its calibration;
* :mod:`pipesim.calibrate.synthetic`: a Salesforce-style export simulated from a known scenario.

The commands are :mod:`pipesim.cli.calibrate` (``pipesim calibrate``) and
:mod:`pipesim.cli.backtest` (``pipesim backtest``).
"""
