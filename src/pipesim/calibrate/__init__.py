"""Calibration from CRM data: read an opportunity export, fit a scenario, synthetic exports.

* :mod:`pipesim.calibrate.crm`: read and normalise an export (:func:`read_crm`);
* :mod:`pipesim.calibrate.mapping`: the column / stage / source mapping (Salesforce defaults);
* :mod:`pipesim.calibrate.synthetic`: a Salesforce-style export simulated from a known scenario;
* :mod:`pipesim.calibrate.fit`: the statistical fits and their mapping onto a scenario;
* :mod:`pipesim.cli.calibrate`: the ``pipesim calibrate`` command.
"""
