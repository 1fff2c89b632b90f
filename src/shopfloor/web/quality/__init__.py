"""The quality area's building blocks (the routes are ``web/pages/quality*.py``).

- ``states``: how lots and inspections are shown (label and badge of each state);
- ``lists``: the lots and inspections as the lists and the lot's page show them;
- ``entry``: the inspection entry form, read into the inspection API's item schemas;
- ``charts``: a characteristic's control chart and capability, ready to draw;
- ``pareto``: the defect Pareto's bars and cumulative line, drawn as SVG on the server;
- ``feed``: the live feed of new measurements per characteristic.
"""
