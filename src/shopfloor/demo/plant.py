"""The demo plant: ACME's stamping and assembly lines, six machines, 31 sensors.

``seed_plant`` creates whatever of it is missing through the plant services, so running the
demo again on the same data directory changes nothing. Existing assets and sensors are left as
they are: a user may have edited their limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shopfloor.demo.signals import SignalSpec
from shopfloor.plant import repository
from shopfloor.plant import service as plant_service
from shopfloor.plant.schemas import AssetCreate, SensorCreate
from shopfloor.storage import Database

SAMPLING_INTERVAL_S = 1.0


@dataclass(frozen=True)
class SensorDef:
    name: str  # the path segment
    title: str
    unit: str
    signal: SignalSpec


@dataclass(frozen=True)
class MachineDef:
    path: str
    title: str
    sensors: tuple[SensorDef, ...]
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedReport:
    assets_created: int
    sensors_created: int


STRUCTURE: tuple[AssetCreate, ...] = (
    AssetCreate(path="acme", kind="site", name="ACME Metalworks"),
    AssetCreate(path="acme/stamping", kind="area", name="Stamping"),
    AssetCreate(path="acme/stamping/line-1", kind="line", name="Stamping line 1"),
    AssetCreate(path="acme/assembly", kind="area", name="Assembly"),
    AssetCreate(path="acme/assembly/line-2", kind="line", name="Assembly line 2"),
)


def _press(number: int) -> MachineDef:
    return MachineDef(
        path=f"acme/stamping/line-1/press-{number}",
        title=f"Hydraulic press {number}",
        attributes={"type": "hydraulic press", "capacity_t": 630, "installed": 2014 + number},
        sensors=(
            SensorDef("oil-temp", "Hydraulic oil temperature", "degC",
                      SignalSpec(38, 52, 0.25, 5, 70, drift=2.0)),
            SensorDef("vibration", "Frame vibration (RMS)", "mm/s",
                      SignalSpec(1.1, 2.8, 0.12, 0, 7.1, drift=0.3, floor=0)),
            SensorDef("hydraulic-pressure", "Hydraulic pressure", "bar",
                      SignalSpec(60, 160, 2.5, 20, 210, drift=4, direction=-1, floor=0)),
            SensorDef("motor-current", "Pump motor current", "A",
                      SignalSpec(22, 65, 1.0, 0, 95, drift=2.0, floor=0)),
            SensorDef("motor-speed", "Pump motor speed", "rpm",
                      SignalSpec(1480, 1465, 3, 1380, 1520, drift=4, direction=-1)),
        ),
    )  # fmt: skip


CONVEYOR = MachineDef(
    path="acme/stamping/line-1/conveyor-1",
    title="Transfer conveyor",
    attributes={"type": "belt conveyor", "length_m": 24},
    sensors=(
        SensorDef("belt-speed", "Belt speed", "m/min",
                  SignalSpec(18, 18, 0.1, 15, 21, drift=0.4, direction=-1, floor=0)),
        SensorDef("motor-current", "Drive motor current", "A",
                  SignalSpec(6, 9, 0.2, 0, 14, drift=0.5, floor=0)),
        SensorDef("gearbox-temp", "Gearbox temperature", "degC",
                  SignalSpec(35, 45, 0.2, 5, 75, drift=2.0)),
        SensorDef("vibration", "Gearbox vibration (RMS)", "mm/s",
                  SignalSpec(0.8, 1.6, 0.08, 0, 4.5, drift=0.2, floor=0)),
    ),
)  # fmt: skip

CNC = MachineDef(
    path="acme/assembly/line-2/cnc-1",
    title="5-axis machining centre",
    attributes={"type": "CNC machining centre", "axes": 5},
    sensors=(
        SensorDef("spindle-speed", "Spindle speed", "rpm",
                  SignalSpec(3000, 9000, 25, 0, 12000, wear=False, floor=0)),
        SensorDef("spindle-current", "Spindle motor current", "A",
                  SignalSpec(4, 18, 0.4, 0, 28, drift=1.0, floor=0)),
        SensorDef("spindle-temp", "Spindle bearing temperature", "degC",
                  SignalSpec(28, 42, 0.15, 5, 55, drift=1.5)),
        SensorDef("spindle-vibration", "Spindle vibration (RMS)", "mm/s",
                  SignalSpec(0.5, 1.8, 0.06, 0, 4.5, drift=0.2, floor=0)),
        SensorDef("coolant-flow", "Coolant flow", "l/min",
                  SignalSpec(30, 30, 0.6, 20, 40, drift=1.0, direction=-1, floor=0)),
        SensorDef("coolant-temp", "Coolant temperature", "degC",
                  SignalSpec(22, 26, 0.1, 10, 32, drift=0.8, wear=False)),
    ),
)  # fmt: skip

WELDER = MachineDef(
    path="acme/assembly/line-2/welder-1",
    title="Robot spot welder",
    attributes={"type": "resistance spot welder", "robot": "6-axis"},
    sensors=(
        SensorDef("weld-current", "Weld current (RMS)", "kA",
                  SignalSpec(3, 9, 0.25, 0, 13, drift=0.4, floor=0)),
        SensorDef("electrode-force", "Electrode force", "kN",
                  SignalSpec(3.0, 3.0, 0.04, 2.2, 3.8, drift=0.1, direction=-1)),
        SensorDef("cooling-water-flow", "Cooling water flow", "l/min",
                  SignalSpec(8, 8, 0.15, 5, 12, drift=0.3, direction=-1, floor=0)),
        SensorDef("cooling-water-temp", "Cooling water temperature", "degC",
                  SignalSpec(24, 30, 0.15, 10, 40, drift=1.0)),
        SensorDef("cabinet-humidity", "Control cabinet humidity", "%",
                  SignalSpec(40, 45, 0.5, 10, 70, drift=3.0, wear=False, floor=0)),
    ),
)  # fmt: skip

COMPRESSOR = MachineDef(
    path="acme/assembly/line-2/compressor-1",
    title="Screw compressor (line air)",
    attributes={"type": "oil-injected screw compressor", "rated_kw": 45},
    sensors=(
        SensorDef("discharge-pressure", "Discharge pressure", "bar",
                  SignalSpec(7.0, 7.0, 0.03, 6.0, 8.5, drift=0.1, direction=-1,
                             cycle_s=120, cycle_amp=0.35)),
        SensorDef("discharge-temp", "Discharge temperature", "degC",
                  SignalSpec(72, 86, 0.4, 20, 105, drift=2.5)),
        SensorDef("motor-current", "Motor current", "A",
                  SignalSpec(45, 82, 1.5, 0, 120, drift=2.0, cycle_s=120, cycle_amp=6,
                             floor=0)),
        SensorDef("vibration", "Airend vibration (RMS)", "mm/s",
                  SignalSpec(1.5, 2.5, 0.1, 0, 7.1, drift=0.3, floor=0)),
        SensorDef("air-flow", "Free air delivery", "m3/min",
                  SignalSpec(4.5, 6.5, 0.08, 0, 9, drift=0.2, wear=False, floor=0)),
        SensorDef("intake-humidity", "Intake air humidity", "%",
                  SignalSpec(45, 50, 0.6, 5, 90, drift=4.0, wear=False, floor=0)),
    ),
)  # fmt: skip

MACHINES: tuple[MachineDef, ...] = (_press(1), _press(2), CONVEYOR, CNC, WELDER, COMPRESSOR)


def sensor_paths() -> list[str]:
    return [f"{m.path}/{s.name}" for m in MACHINES for s in m.sensors]


def signal_specs() -> list[SignalSpec]:
    return [s.signal for m in MACHINES for s in m.sensors]


def machine_of_sensor() -> list[int]:
    """For each sensor (in ``sensor_paths`` order), the index of its machine in MACHINES."""
    return [index for index, m in enumerate(MACHINES) for _ in m.sensors]


def _sensor_create(machine: MachineDef, sensor: SensorDef) -> SensorCreate:
    return SensorCreate(
        path=f"{machine.path}/{sensor.name}",
        name=sensor.title,
        unit=sensor.unit,
        low_limit=sensor.signal.low,
        high_limit=sensor.signal.high,
        sampling_interval_s=SAMPLING_INTERVAL_S,
    )


async def seed_plant(db: Database) -> SeedReport:
    """Create the assets and sensors of the demo plant that do not exist yet, in one commit."""
    assets = [
        *STRUCTURE,
        *(AssetCreate(path=m.path, kind="machine", name=m.title, attributes=m.attributes)
          for m in MACHINES),
    ]  # fmt: skip
    sensors = [_sensor_create(m, s) for m in MACHINES for s in m.sensors]
    assets_created = sensors_created = 0
    async with db.write() as session:
        for asset in assets:
            if await repository.asset_by_path(session, asset.path) is None:
                await plant_service.create_asset(session, asset)
                assets_created += 1
        for sensor in sensors:
            if await repository.sensor_by_path(session, sensor.path) is None:
                await plant_service.create_sensor(session, sensor)
                sensors_created += 1
    return SeedReport(assets_created, sensors_created)
