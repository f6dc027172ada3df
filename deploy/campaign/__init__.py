"""A campaign (``moto campaign``, ``moto report``): a grid of runs from a spec (``spec``), where each
stands (``state``), running them as Ray tasks (``runner``), exporting each finished run's small files
(``export``), the numbers over runs (``results``) and the plots and tables drawn from them (``report``)."""
