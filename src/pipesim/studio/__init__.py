"""The studio: a shared what-if workspace in the browser (``pipesim studio``, docs/studio.md).

The top layer under the command line. :mod:`~pipesim.studio.levers` generates the lever panel
from the schema, :mod:`~pipesim.studio.live` runs the streamed estimates in the background,
:mod:`~pipesim.studio.figures` turns them into words, intervals and the report's charts,
:mod:`~pipesim.studio.whatif` checks, saves and runs a what-if, :mod:`~pipesim.studio.files`
keeps every path inside the scenario folder, :mod:`~pipesim.studio.app` is the Shiny page and
:mod:`~pipesim.studio.serve` the token check, the report route and the web server. Shiny is an
optional extra (``pip install 'pipesim[studio]'``): import :mod:`~pipesim.studio.app` and
:mod:`~pipesim.studio.serve` only where it is installed.
"""
