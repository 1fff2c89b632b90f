"""Quality: parts, characteristics, lots, inspections, defects, SPC and process capability."""
