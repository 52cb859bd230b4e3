//! A simulated pump skid for `twinlens serve`'s `/ws/sim`: a small, physically plausible model of
//! the demo plant (motor, centrifugal pump, suction tank, valves, control panel) with a bearing
//! fault that develops, reaches alarm, and recovers once per fault cycle.
//!
//! The model is pure: given a seed and a time it always produces the same readings. It advances
//! in fixed steps of [`STEP_S`], so the state at time `t` does not depend on how often the caller
//! asks. Sensors are taken from a manifest; ids the model knows (matched after the asset prefix,
//! `p101.motor.current` → `motor.current`) follow the physics, any other sensor gets a bounded
//! random walk inside its range (or, without range, thresholds and unit, an occasional `true`).

use twinlens::manifest::{Sensor, Threshold};

/// Fixed integration step, seconds.
pub const STEP_S: f64 = 0.1;

/// Default fault cycle: healthy, developing, alarm, recovering, every this many seconds.
pub const DEFAULT_FAULT_PERIOD_S: f64 = 360.0;

/// One reading's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A measurement, already rounded to the sensor's resolution.
    Number(f64),
    /// A switch or contact.
    Bool(bool),
}

impl Value {
    /// The number, if this is one.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Value::Number(v) => Some(v),
            Value::Bool(_) => None,
        }
    }
}

/// Where the bearing fault stands within its cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPhase {
    /// No fault.
    Healthy,
    /// Bearing temperature and vibration rising through warning towards alarm.
    Developing,
    /// Holding above the alarm thresholds.
    Alarm,
    /// Falling back to normal.
    Recovering,
}

/// How the simulation runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    /// Seed of every random choice (noise, operator moves, door openings).
    pub seed: u64,
    /// Length of one fault cycle, seconds (at least a few seconds).
    pub fault_period_s: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            fault_period_s: DEFAULT_FAULT_PERIOD_S,
        }
    }
}

// Fault cycle, as fractions of the period: healthy until DEVELOP, rising until HOLD, at alarm
// until RECOVER, falling until CLEAR, healthy again until the end.
const DEVELOP: f64 = 0.25;
const HOLD: f64 = 0.60;
const RECOVER: f64 = 0.75;
const CLEAR: f64 = 0.95;

// Plant constants. Pressures in bar (gauge), flow in m³/h, power in kW, temperatures in °C.
const AMBIENT_C: f64 = 25.0;
const MOTOR_RATED_KW: f64 = 30.0;
const SYNC_RPM: f64 = 3000.0;
const RATED_SLIP_RPM: f64 = 55.0;
/// Pump curve at 2950 rpm: Δp = SHUTOFF_BAR − PUMP_K·Q².
const SHUTOFF_BAR: f64 = 11.5;
const PUMP_K: f64 = 5.47e-4;
/// Outlet valve resistance at full opening: Δp = VALVE_R·Q²/opening².
const VALVE_R: f64 = 3.3e-4;
/// Shaft power curve: P = P0 + c·Q (rises with flow, as for radial pumps).
const POWER_P0_KW: f64 = 6.0;
const POWER_PER_FLOW: f64 = 0.23;
/// Tank volume at 100 % level, m³.
const TANK_M3: f64 = 30.0;
const REFILL_M3H: f64 = 140.0;
const REFILL_ON_PCT: f64 = 40.0;
const REFILL_OFF_PCT: f64 = 85.0;
const NOMINAL_LOAD: f64 = 0.8;

/// The quantities the physics model produces, keyed by the id without its asset prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantity {
    WindingTemp,
    MotorCurrent,
    MotorVibration,
    ShaftSpeed,
    BearingTemp,
    PumpVibration,
    SuctionPressure,
    DischargePressure,
    DischargeFlow,
    InletValve,
    OutletValve,
    TankLevel,
    TankTemp,
    PanelDoor,
}

impl Quantity {
    fn from_id(id: &str) -> Option<Self> {
        let local = id.split_once('.').map_or(id, |(_, rest)| rest);
        Some(match local {
            "motor.winding_temp" => Self::WindingTemp,
            "motor.current" => Self::MotorCurrent,
            "motor.vibration" => Self::MotorVibration,
            "coupling.speed" => Self::ShaftSpeed,
            "pump.bearing_temp" => Self::BearingTemp,
            "pump.vibration" => Self::PumpVibration,
            "suction.pressure" => Self::SuctionPressure,
            "discharge.pressure" => Self::DischargePressure,
            "discharge.flow" => Self::DischargeFlow,
            "inlet_valve.position" => Self::InletValve,
            "outlet_valve.position" => Self::OutletValve,
            "tank.level" => Self::TankLevel,
            "tank.temp" => Self::TankTemp,
            "panel.door_open" => Self::PanelDoor,
            _ => return None,
        })
    }

    /// Standard deviation of the measurement noise.
    fn noise(self) -> f64 {
        match self {
            Self::WindingTemp | Self::BearingTemp => 0.08,
            Self::TankTemp => 0.05,
            Self::MotorCurrent => 0.25,
            Self::ShaftSpeed => 1.5,
            Self::SuctionPressure => 0.005,
            Self::DischargePressure => 0.03,
            Self::DischargeFlow => 0.4,
            Self::InletValve | Self::OutletValve => 0.05,
            Self::TankLevel => 0.05,
            // Vibration carries its own correlated noise in the state.
            Self::MotorVibration | Self::PumpVibration | Self::PanelDoor => 0.0,
        }
    }
}

/// How one sensor's value is produced.
#[derive(Debug, Clone)]
enum Channel {
    Known(Quantity),
    /// Mean-reverting random walk, reflected at the bounds.
    Walk {
        lo: f64,
        hi: f64,
        center: f64,
        sigma: f64,
        x: f64,
    },
    /// A contact that is occasionally closed for a while.
    Flag {
        on: bool,
        remaining_s: f64,
    },
}

#[derive(Debug, Clone)]
struct Output {
    id: String,
    channel: Channel,
    range: Option<[f64; 2]>,
    decimals: i32,
}

/// Deterministic pseudo-random numbers (SplitMix64).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// True with the probability that a Poisson event with this mean interval happens in `dt`.
    fn event(&mut self, dt: f64, mean_interval_s: f64) -> bool {
        self.uniform() < dt / mean_interval_s
    }
}

/// First-order lag: moves `x` towards `target` with time constant `tau` over `dt`.
fn lag(x: f64, target: f64, tau: f64, dt: f64) -> f64 {
    x + (target - x) * (1.0 - (-dt / tau).exp())
}

/// Moves `x` towards `target` by at most `rate · dt`.
fn slew(x: f64, target: f64, rate: f64, dt: f64) -> f64 {
    x + (target - x).clamp(-rate * dt, rate * dt)
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// The plant's true (unmeasured) state.
#[derive(Debug, Clone)]
struct State {
    inlet_pos: f64,
    inlet_target: f64,
    outlet_pos: f64,
    outlet_target: f64,
    level: f64,
    refill_on: bool,
    tank_temp: f64,
    winding_temp: f64,
    bearing_base: f64,
    motor_vib_noise: f64,
    pump_vib_noise: f64,
    door_open: bool,
    door_remaining_s: f64,
    // Derived each step.
    flow: f64,
    suction: f64,
    discharge: f64,
    load: f64,
    speed: f64,
    current: f64,
    severity: f64,
}

/// The simulated plant.
#[derive(Debug, Clone)]
pub struct Plant {
    config: SimConfig,
    rng: Rng,
    steps: u64,
    state: State,
    /// Bearing temperature and pump vibration added at full fault severity, chosen so that the
    /// peak lies past the manifest's alarm thresholds.
    bearing_fault_rise: f64,
    vibration_fault_rise: f64,
    outputs: Vec<Output>,
    values: Vec<Value>,
}

impl Plant {
    /// A plant publishing `sensors`, started in a warm steady state at time 0.
    pub fn new(sensors: &[Sensor], config: SimConfig) -> Self {
        let config = SimConfig {
            fault_period_s: if config.fault_period_s.is_finite() {
                config.fault_period_s.max(2.0)
            } else {
                DEFAULT_FAULT_PERIOD_S
            },
            ..config
        };
        let mut rng = Rng(config.seed ^ 0x7477_696E_6C65_6E73);
        let outputs: Vec<Output> = sensors
            .iter()
            .map(|s| Output {
                id: s.id.clone(),
                channel: channel_for(s, &mut rng),
                range: s.range.filter(|[lo, hi]| lo < hi),
                decimals: decimals_for(s.range),
            })
            .collect();
        let find = |q: Quantity| sensors.iter().find(|s| Quantity::from_id(&s.id) == Some(q));
        let nominal_bearing = bearing_target(NOMINAL_LOAD);
        let nominal_vibration = pump_vibration_base(NOMINAL_LOAD, 80.0);
        let bearing_peak = fault_peak(find(Quantity::BearingTemp), 100.0);
        let vibration_peak = fault_peak(find(Quantity::PumpVibration), 9.0);
        let mut state = State {
            inlet_pos: 100.0,
            inlet_target: 100.0,
            outlet_pos: 65.0,
            outlet_target: 65.0,
            level: 70.0,
            refill_on: false,
            tank_temp: 26.0,
            winding_temp: 0.0,
            bearing_base: 0.0,
            motor_vib_noise: 0.0,
            pump_vib_noise: 0.0,
            door_open: false,
            door_remaining_s: 0.0,
            flow: 0.0,
            suction: 0.0,
            discharge: 0.0,
            load: 0.0,
            speed: SYNC_RPM - RATED_SLIP_RPM * NOMINAL_LOAD,
            current: 0.0,
            severity: 0.0,
        };
        hydraulics(&mut state, static_head(0.0));
        state.winding_temp = winding_target(state.load);
        state.bearing_base = bearing_target(state.load);
        let mut plant = Self {
            config,
            rng,
            steps: 0,
            state,
            bearing_fault_rise: (bearing_peak - nominal_bearing).max(0.0),
            vibration_fault_rise: (vibration_peak - nominal_vibration).max(0.0),
            values: Vec::new(),
            outputs,
        };
        plant.measure();
        plant
    }

    /// Simulated seconds since the start.
    pub fn time(&self) -> f64 {
        self.steps as f64 * STEP_S
    }

    /// Runs fixed steps until the simulated time reaches `t` seconds (never goes back).
    pub fn advance_to(&mut self, t: f64) {
        let target = (t / STEP_S + 1e-9).floor().max(0.0) as u64;
        while self.steps < target {
            self.step();
        }
    }

    /// Where the bearing fault stands now.
    pub fn fault_phase(&self) -> FaultPhase {
        fault_at(self.time(), self.config.fault_period_s).0
    }

    /// The latest measured readings, in manifest order.
    pub fn readings(&self) -> impl Iterator<Item = (&str, Value)> + '_ {
        self.outputs
            .iter()
            .zip(&self.values)
            .map(|(o, v)| (o.id.as_str(), *v))
    }

    /// The latest reading of one sensor.
    #[cfg(test)]
    pub fn reading(&self, id: &str) -> Option<Value> {
        self.readings().find(|(i, _)| *i == id).map(|(_, v)| v)
    }

    fn step(&mut self) {
        self.steps += 1;
        let t = self.time();
        let dt = STEP_S;
        let rng = &mut self.rng;
        let s = &mut self.state;

        // Operators: the outlet valve is re-set every few minutes, the inlet valve rarely
        // throttled and opened again. Actuators travel at a finite speed.
        if rng.event(dt, 240.0) {
            s.outlet_target = rng.range(45.0, 75.0).round();
        }
        if rng.event(dt, 1200.0) {
            s.inlet_target = if s.inlet_target >= 100.0 {
                rng.range(92.0, 98.0).round()
            } else {
                100.0
            };
        }
        s.outlet_pos = slew(s.outlet_pos, s.outlet_target, 2.0, dt);
        s.inlet_pos = slew(s.inlet_pos, s.inlet_target, 1.0, dt);

        // Fault severity follows the cycle; it adds bearing friction to the shaft load.
        let (_, severity) = fault_at(t, self.config.fault_period_s);
        s.severity = severity;

        hydraulics(s, static_head(t));

        // Tank: the pump drains it, a level-controlled make-up supply refills it with cooler
        // water; the tank follows a slow ambient swing otherwise.
        if s.level < REFILL_ON_PCT {
            s.refill_on = true;
        } else if s.level > REFILL_OFF_PCT {
            s.refill_on = false;
        }
        let inflow = if s.refill_on { REFILL_M3H } else { 0.0 };
        s.level += (inflow - s.flow) / 3600.0 / TANK_M3 * 100.0 * dt;
        s.level = s.level.clamp(0.0, 100.0);
        let tank_target = 26.0 + 3.0 * (std::f64::consts::TAU * t / 2400.0).sin()
            - if s.refill_on { 6.0 } else { 0.0 };
        s.tank_temp = lag(s.tank_temp, tank_target, 300.0, dt);

        // Thermal: copper losses heat the winding, the bearing runs warmer under load.
        s.winding_temp = lag(s.winding_temp, winding_target(s.load), 240.0, dt);
        s.bearing_base = lag(s.bearing_base, bearing_target(s.load), 180.0, dt);

        // Correlated vibration noise (Ornstein–Uhlenbeck, about 0.15 mm/s rms).
        let ou = |x: f64, rng: &mut Rng| x - x * dt / 2.0 + 0.15 * (dt).sqrt() * rng.normal();
        s.motor_vib_noise = ou(s.motor_vib_noise, rng);
        s.pump_vib_noise = ou(s.pump_vib_noise, rng);

        // Control panel door: opened now and then for half a minute or so.
        if s.door_open {
            s.door_remaining_s -= dt;
            if s.door_remaining_s <= 0.0 {
                s.door_open = false;
            }
        } else if rng.event(dt, 600.0) {
            s.door_open = true;
            s.door_remaining_s = rng.range(15.0, 60.0);
        }

        for o in &mut self.outputs {
            match &mut o.channel {
                Channel::Known(_) => {}
                Channel::Walk {
                    lo,
                    hi,
                    center,
                    sigma,
                    x,
                } => {
                    let mut next =
                        *x + (*center - *x) * dt / 120.0 + *sigma * dt.sqrt() * rng.normal();
                    if next > *hi {
                        next = 2.0 * *hi - next;
                    }
                    if next < *lo {
                        next = 2.0 * *lo - next;
                    }
                    *x = next.clamp(*lo, *hi);
                }
                Channel::Flag { on, remaining_s } => {
                    if *on {
                        *remaining_s -= dt;
                        if *remaining_s <= 0.0 {
                            *on = false;
                        }
                    } else if rng.event(dt, 600.0) {
                        *on = true;
                        *remaining_s = rng.range(10.0, 60.0);
                    }
                }
            }
        }
        self.measure();
    }

    /// Turns the true state into rounded, range-limited measurements.
    fn measure(&mut self) {
        let s = &self.state;
        let rng = &mut self.rng;
        self.values.clear();
        for o in &self.outputs {
            let raw = match &o.channel {
                Channel::Known(q) => {
                    let truth = match q {
                        Quantity::WindingTemp => s.winding_temp,
                        Quantity::MotorCurrent => s.current,
                        Quantity::MotorVibration => {
                            1.2 + 0.5 * s.load
                                + s.motor_vib_noise
                                + 0.12 * self.vibration_fault_rise * s.severity
                        }
                        Quantity::ShaftSpeed => s.speed,
                        Quantity::BearingTemp => {
                            s.bearing_base + self.bearing_fault_rise * s.severity
                        }
                        Quantity::PumpVibration => {
                            pump_vibration_base(s.load, s.flow)
                                + s.pump_vib_noise
                                + self.vibration_fault_rise * s.severity
                        }
                        Quantity::SuctionPressure => s.suction,
                        Quantity::DischargePressure => s.discharge,
                        Quantity::DischargeFlow => s.flow,
                        Quantity::InletValve => s.inlet_pos,
                        Quantity::OutletValve => s.outlet_pos,
                        Quantity::TankLevel => s.level,
                        Quantity::TankTemp => s.tank_temp,
                        Quantity::PanelDoor => {
                            self.values.push(Value::Bool(s.door_open));
                            continue;
                        }
                    };
                    let noisy = truth + q.noise() * rng.normal();
                    match q {
                        // Vibration velocity and valve feedback never read below zero.
                        Quantity::MotorVibration | Quantity::PumpVibration => noisy.max(0.05),
                        Quantity::InletValve | Quantity::OutletValve => noisy.clamp(0.0, 100.0),
                        _ => noisy,
                    }
                }
                Channel::Walk { x, .. } => *x,
                Channel::Flag { on, .. } => {
                    self.values.push(Value::Bool(*on));
                    continue;
                }
            };
            let limited = match o.range {
                Some([lo, hi]) => raw.clamp(lo, hi),
                None => raw,
            };
            let scale = 10f64.powi(o.decimals);
            self.values
                .push(Value::Number((limited * scale).round() / scale));
        }
    }
}

/// The phase and severity (0–1) of the bearing fault at time `t`.
fn fault_at(t: f64, period: f64) -> (FaultPhase, f64) {
    let x = (t / period).fract();
    if x < DEVELOP {
        (FaultPhase::Healthy, 0.0)
    } else if x < HOLD {
        (
            FaultPhase::Developing,
            smoothstep((x - DEVELOP) / (HOLD - DEVELOP)),
        )
    } else if x < RECOVER {
        (FaultPhase::Alarm, 1.0)
    } else if x < CLEAR {
        (
            FaultPhase::Recovering,
            1.0 - smoothstep((x - RECOVER) / (CLEAR - RECOVER)),
        )
    } else {
        (FaultPhase::Healthy, 0.0)
    }
}

/// Back-pressure of the downstream system, bar: the process demand swings slowly, which makes
/// flow and motor load cycle.
fn static_head(t: f64) -> f64 {
    use std::f64::consts::TAU;
    3.0 + 1.5 * (TAU * t / 600.0).sin() + 0.4 * (TAU * t / 253.0 + 1.0).sin()
}

/// Solves the operating point: pump curve (scaled with speed², affinity law) against the system
/// curve through the outlet valve; then shaft power, motor load, current and speed.
fn hydraulics(s: &mut State, back_pressure: f64) {
    let speed_ratio = s.speed / 2950.0;
    let shutoff = SHUTOFF_BAR * speed_ratio * speed_ratio;
    let opening = (s.outlet_pos / 100.0).max(0.02);
    let resistance = VALVE_R / (opening * opening);
    let suction_static = 0.35 + 0.006 * s.level;
    let flow = ((suction_static + shutoff - back_pressure).max(0.0) / (PUMP_K + resistance)).sqrt();
    let inlet = (s.inlet_pos / 100.0).max(0.05);
    let suction = suction_static - 0.04 * (flow / 80.0).powi(2) / (inlet * inlet);
    let head = (shutoff - PUMP_K * flow * flow).max(0.0);
    let shaft_kw = POWER_P0_KW + POWER_PER_FLOW * flow + 1.0 * s.severity;
    s.flow = flow;
    s.suction = suction;
    s.discharge = suction + head;
    s.load = shaft_kw / MOTOR_RATED_KW;
    s.current = 14.0 + 42.0 * s.load;
    s.speed = SYNC_RPM - RATED_SLIP_RPM * s.load;
}

fn winding_target(load: f64) -> f64 {
    AMBIENT_C + 12.0 + 65.0 * load * load
}

fn bearing_target(load: f64) -> f64 {
    AMBIENT_C + 20.0 + 12.0 * load
}

/// Pump vibration without fault: rises with load and with recirculation at low flow.
fn pump_vibration_base(load: f64, flow: f64) -> f64 {
    1.6 + 0.8 * load + 0.02 * (50.0 - flow).max(0.0)
}

/// The value the fault drives a sensor to: half the warning–alarm gap past alarm, kept inside the
/// sensor's range.
fn fault_peak(sensor: Option<&Sensor>, default: f64) -> f64 {
    let Some(sensor) = sensor else {
        return default;
    };
    let warning = sensor.warning.and_then(|t| t.above);
    let alarm = sensor.alarm.and_then(|t| t.above);
    let span = sensor.range.map(|[lo, hi]| hi - lo).filter(|s| *s > 0.0);
    let peak = match (warning, alarm) {
        (Some(w), Some(a)) if a > w => a + 0.5 * (a - w),
        (_, Some(a)) => a + 0.05 * span.unwrap_or(a.abs().max(1.0)),
        (Some(w), None) => w + 0.15 * span.unwrap_or(w.abs().max(1.0)),
        (None, None) => default,
    };
    match sensor.range {
        Some([lo, hi]) if hi > lo => peak.min(hi - 0.02 * (hi - lo)),
        _ => peak,
    }
}

/// Decimal places for a sensor: about three significant digits of its span.
fn decimals_for(range: Option<[f64; 2]>) -> i32 {
    match range.map(|[lo, hi]| (hi - lo).abs()) {
        Some(span) if span >= 1000.0 => 1,
        Some(span) if span < 10.0 => 3,
        _ => 2,
    }
}

fn channel_for(sensor: &Sensor, rng: &mut Rng) -> Channel {
    if let Some(q) = Quantity::from_id(&sensor.id) {
        return Channel::Known(q);
    }
    let bound = |t: Option<Threshold>| t.map(|t| (t.below, t.above));
    let thresholds: Vec<(Option<f64>, Option<f64>)> = [bound(sensor.warning), bound(sensor.alarm)]
        .into_iter()
        .flatten()
        .collect();
    if sensor.range.is_none() && thresholds.is_empty() && sensor.unit.is_none() {
        return Channel::Flag {
            on: false,
            remaining_s: 0.0,
        };
    }
    let [lo, hi] = sensor
        .range
        .filter(|[lo, hi]| lo < hi)
        .unwrap_or([0.0, 100.0]);
    // Centre the walk in the band where the sensor is normal.
    let mut normal_lo = lo;
    let mut normal_hi = hi;
    for (below, above) in thresholds {
        if let Some(b) = below {
            normal_lo = normal_lo.max(b);
        }
        if let Some(a) = above {
            normal_hi = normal_hi.min(a);
        }
    }
    let center = if normal_lo < normal_hi {
        (normal_lo + normal_hi) / 2.0
    } else {
        (lo + hi) / 2.0
    };
    let sigma = 0.01 * (hi - lo);
    let x = (center + sigma * rng.normal()).clamp(lo, hi);
    Channel::Walk {
        lo,
        hi,
        center,
        sigma,
        x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinlens::manifest::Manifest;

    fn demo_sensors() -> Vec<Sensor> {
        let bytes = include_bytes!("../../www/demo/pump-skid.twin.json");
        Manifest::parse(bytes, "pump-skid.twin.json")
            .expect("the demo manifest parses")
            .sensors
    }

    fn sensor<'a>(sensors: &'a [Sensor], id: &str) -> &'a Sensor {
        sensors.iter().find(|s| s.id == id).expect("sensor exists")
    }

    fn num(plant: &Plant, id: &str) -> f64 {
        plant.reading(id).and_then(Value::as_f64).expect("numeric")
    }

    #[test]
    fn every_demo_sensor_is_modelled_by_the_physics() {
        for s in demo_sensors() {
            assert!(Quantity::from_id(&s.id).is_some(), "{} not modelled", s.id);
        }
    }

    #[test]
    fn same_seed_same_readings_different_seed_different_readings() {
        let sensors = demo_sensors();
        let run = |seed: u64| {
            let mut plant = Plant::new(
                &sensors,
                SimConfig {
                    seed,
                    ..SimConfig::default()
                },
            );
            let mut out = Vec::new();
            for i in 1..=300 {
                plant.advance_to(i as f64 * 0.2);
                out.extend(plant.readings().map(|(id, v)| (id.to_owned(), v)));
            }
            out
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn state_depends_on_time_not_on_how_often_it_is_read() {
        let sensors = demo_sensors();
        let mut coarse = Plant::new(&sensors, SimConfig::default());
        let mut fine = coarse.clone();
        coarse.advance_to(90.0);
        for i in 1..=900 {
            fine.advance_to(i as f64 * 0.1);
        }
        let a: Vec<_> = coarse.readings().collect();
        let b: Vec<_> = fine.readings().collect();
        assert_eq!(a, b);
    }

    #[test]
    fn an_hour_stays_within_ranges_and_physical_bounds() {
        let sensors = demo_sensors();
        let mut plant = Plant::new(&sensors, SimConfig::default());
        let mut door_opened = false;
        let mut outlet_moves = 0;
        let mut last_outlet = num(&plant, "p101.outlet_valve.position");
        let (mut level_min, mut level_max) = (f64::MAX, f64::MIN);
        for i in 1..=3600 * 5 {
            plant.advance_to(i as f64 * 0.2);
            for (id, v) in plant.readings() {
                let s = sensor(&sensors, id);
                match v {
                    Value::Bool(b) => door_opened |= b,
                    Value::Number(x) => {
                        assert!(x.is_finite(), "{id} = {x}");
                        if let Some([lo, hi]) = s.range {
                            assert!(x >= lo && x <= hi, "{id} = {x} outside [{lo}, {hi}]");
                        }
                    }
                }
            }
            let speed = num(&plant, "p101.coupling.speed");
            assert!((2900.0..=3000.0).contains(&speed), "speed {speed}");
            let flow = num(&plant, "p101.discharge.flow");
            assert!((40.0..=110.0).contains(&flow), "flow {flow}");
            let current = num(&plant, "p101.motor.current");
            assert!((30.0..58.0).contains(&current), "current {current}");
            let winding = num(&plant, "p101.motor.winding_temp");
            assert!((40.0..110.0).contains(&winding), "winding {winding}");
            let suction = num(&plant, "p101.suction.pressure");
            assert!(suction > 0.3, "suction {suction}");
            let discharge = num(&plant, "p101.discharge.pressure");
            assert!((4.0..11.0).contains(&discharge), "discharge {discharge}");
            assert!(discharge > suction);
            let level = num(&plant, "p101.tank.level");
            level_min = level_min.min(level);
            level_max = level_max.max(level);
            let outlet = num(&plant, "p101.outlet_valve.position");
            if (outlet - last_outlet).abs() > 5.0 {
                outlet_moves += 1;
                last_outlet = outlet;
            }
        }
        assert!(door_opened, "the panel door never opened in an hour");
        assert!(
            outlet_moves >= 2,
            "the operator never moved the outlet valve"
        );
        assert!(
            level_min < 45.0 && level_max > 80.0,
            "the tank does not drain and refill: {level_min}..{level_max}"
        );
    }

    #[test]
    fn motor_load_cycles_and_current_and_temperature_follow() {
        let sensors = demo_sensors();
        let mut plant = Plant::new(&sensors, SimConfig::default());
        let mut current = Vec::new();
        let mut winding = Vec::new();
        for i in 1..=1800 {
            plant.advance_to(i as f64);
            current.push(num(&plant, "p101.motor.current"));
            winding.push(num(&plant, "p101.motor.winding_temp"));
        }
        let spread = |v: &[f64]| {
            v.iter().cloned().fold(f64::MIN, f64::max) - v.iter().cloned().fold(f64::MAX, f64::min)
        };
        assert!(spread(&current) > 3.0, "current hardly moves");
        assert!(spread(&winding) > 2.0, "winding temperature hardly moves");
        // Winding temperature is a lagged, smooth signal: second-to-second changes are small.
        for w in winding.windows(2) {
            assert!(
                (w[1] - w[0]).abs() < 1.0,
                "winding jumps {} → {}",
                w[0],
                w[1]
            );
        }
    }

    #[test]
    fn bearing_fault_crosses_warning_then_alarm_and_recovers_within_a_cycle() {
        let sensors = demo_sensors();
        for period in [DEFAULT_FAULT_PERIOD_S, 20.0] {
            let mut plant = Plant::new(
                &sensors,
                SimConfig {
                    seed: 3,
                    fault_period_s: period,
                },
            );
            for id in ["p101.pump.bearing_temp", "p101.pump.vibration"] {
                let s = sensor(&sensors, id);
                let warning = s.warning.unwrap().above.unwrap();
                let alarm = s.alarm.unwrap().above.unwrap();
                let mut probe = plant.clone();
                let (mut first_warning, mut first_alarm, mut last_alarm) = (None, None, None);
                let mut phases = vec![probe.fault_phase()];
                let n = (period / 0.2).round() as usize;
                for i in 1..=n {
                    let t = i as f64 * 0.2;
                    probe.advance_to(t);
                    if *phases.last().unwrap() != probe.fault_phase() {
                        phases.push(probe.fault_phase());
                    }
                    let v = num(&probe, id);
                    if v >= warning && first_warning.is_none() {
                        first_warning = Some(t);
                    }
                    if v >= alarm {
                        first_alarm.get_or_insert(t);
                        last_alarm = Some(t);
                    }
                    if t < DEVELOP * period - 0.5 || t > CLEAR * period + 0.5 {
                        assert!(v < warning, "{id} = {v} at {t} s while healthy");
                    }
                }
                let (w, a, l) = (
                    first_warning.expect("warning reached"),
                    first_alarm.expect("alarm reached"),
                    last_alarm.unwrap(),
                );
                assert!(w < a, "{id}: warning at {w} s, alarm at {a} s");
                assert!(l < CLEAR * period, "{id}: still in alarm at {l} s");
                assert!(l - a > 0.15 * period, "{id}: alarm held only {} s", l - a);
                assert_eq!(
                    phases,
                    [
                        FaultPhase::Healthy,
                        FaultPhase::Developing,
                        FaultPhase::Alarm,
                        FaultPhase::Recovering,
                        FaultPhase::Healthy
                    ]
                );
            }
            plant.advance_to(period * 2.65);
            assert_eq!(plant.fault_phase(), FaultPhase::Alarm, "the fault repeats");
        }
    }

    #[test]
    fn rates_of_change_between_samples_are_plausible() {
        let sensors = demo_sensors();
        let mut plant = Plant::new(&sensors, SimConfig::default());
        // Largest plausible change in 0.2 s, noise included.
        let limits = [
            ("p101.motor.winding_temp", 0.6),
            ("p101.motor.current", 2.0),
            ("p101.motor.vibration", 1.0),
            ("p101.coupling.speed", 15.0),
            ("p101.pump.bearing_temp", 0.8),
            ("p101.pump.vibration", 1.0),
            ("p101.suction.pressure", 0.05),
            ("p101.discharge.pressure", 0.3),
            ("p101.discharge.flow", 4.0),
            ("p101.inlet_valve.position", 0.6),
            ("p101.outlet_valve.position", 0.8),
            ("p101.tank.level", 0.3),
            ("p101.tank.temp", 0.3),
        ];
        let mut last: Vec<f64> = limits.iter().map(|(id, _)| num(&plant, id)).collect();
        for i in 1..=2 * 3600 * 5 {
            plant.advance_to(i as f64 * 0.2);
            for ((id, limit), prev) in limits.iter().zip(last.iter_mut()) {
                let v = num(&plant, id);
                assert!(
                    (v - *prev).abs() <= *limit,
                    "{id} jumped {prev} → {v} at {} s",
                    plant.time()
                );
                *prev = v;
            }
        }
    }

    #[test]
    fn unknown_sensors_walk_inside_their_range_and_bare_ones_are_switches() {
        let json = br#"{
            "name": "x", "model": { "url": "x.glb" },
            "sensors": [
                { "id": "x.tank2.ph", "name": "pH", "node": "N", "unit": "pH", "range": [0, 14],
                  "warning": { "below": 6, "above": 8.5 } },
                { "id": "x.odd", "name": "odd", "node": "N", "unit": "kPa" },
                { "id": "x.gate.closed", "name": "gate", "node": "N" }
            ]
        }"#;
        let sensors = Manifest::parse(json, "t.json").unwrap().sensors;
        let mut plant = Plant::new(&sensors, SimConfig::default());
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        let mut switched = false;
        for i in 1..=3600 {
            plant.advance_to(i as f64);
            let ph = num(&plant, "x.tank2.ph");
            assert!((0.0..=14.0).contains(&ph));
            lo = lo.min(ph);
            hi = hi.max(ph);
            let odd = num(&plant, "x.odd");
            assert!((0.0..=100.0).contains(&odd));
            switched |= plant.reading("x.gate.closed") == Some(Value::Bool(true));
        }
        assert!(hi - lo > 0.3, "pH does not move: {lo}..{hi}");
        assert!((lo + hi) / 2.0 > 4.0 && (lo + hi) / 2.0 < 10.5);
        assert!(switched);
    }
}
