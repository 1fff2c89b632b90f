"""A sensor's chart as the sensor page draws it: time ranges, the data, the live feed."""
