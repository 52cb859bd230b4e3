//! What the session's HUD says: status, connection, the selected part and its sensors, the
//! alignment progress and the buttons on offer.

use super::*;

impl ActiveSession {
    pub(super) fn update_hud(&mut self, now: f64, force: bool) {
        if !force && now < self.hud_due {
            return;
        }
        self.hud_due = now + HUD_INTERVAL_MS;
        match (&self.note, &self.note_shown) {
            (Some(note), Some((shown, since))) if note == shown => {
                if now - since > NOTE_MS {
                    self.note = None;
                    self.note_shown = None;
                }
            }
            (Some(note), _) => self.note_shown = Some((note.clone(), now)),
            (None, _) => self.note_shown = None,
        }
        let view = self.hud_view(now);
        if let Ok(mut hud) = self.hud.try_borrow_mut() {
            hud.update(view);
        }
    }

    pub(super) fn hud_view(&self, _now: f64) -> HudView {
        let mut buttons = Vec::new();
        let mut status = String::new();
        let placed = matches!(self.flow.state(), PlacementState::Placed(_));
        if self.visibility != "visible" {
            status.push_str("Paused while the headset or phone shows something else. ");
        }
        match self.mode {
            XrMode::Ar => {
                if self.tracking == "lost" {
                    status.push_str(
                        "Tracking lost: move the phone slowly and point it at a textured surface. ",
                    );
                }
                if self.align.active {
                    let pair = self.align.real.len() + 1;
                    if self.align.expects_model() {
                        status.push_str(&format!("Alignment point {pair}: aim the centre dot at a corner of the twin and press Mark twin point."));
                        buttons.push(HudAction::MarkModel);
                    } else {
                        status.push_str(&format!("Alignment point {pair}: aim at the same corner on the real machine and press Mark real point."));
                        buttons.push(HudAction::MarkReal);
                    }
                    buttons.push(HudAction::AlignDone);
                } else {
                    match self.flow.state() {
                        PlacementState::Searching => status.push_str(
                            "Move the phone slowly over the floor or a table to find a surface.",
                        ),
                        PlacementState::Previewing(_) => {
                            status.push_str(
                                "Tap the screen or press Place here to put the twin at the ring.",
                            );
                            buttons.push(HudAction::Place);
                        }
                        PlacementState::Placed(p) => {
                            let scale = match p.scale {
                                ScaleMode::OneToOne => "life size".to_owned(),
                                ScaleMode::Tabletop { factor } => {
                                    format!("tabletop, 1:{:.0}", 1.0 / factor.max(1e-6))
                                }
                            };
                            status.push_str(&format!("Twin placed ({scale}). Drag with two fingers to move it, twist to turn it; tap a part to select it."));
                            buttons.extend([
                                HudAction::RotateLeft,
                                HudAction::RotateRight,
                                HudAction::ToggleScale,
                                HudAction::Reset,
                                HudAction::Align,
                            ]);
                        }
                    }
                    if self.offered.is_some() {
                        status.push_str(" A placement from your last visit is saved: Restore puts the twin back there; check it lines up.");
                        buttons.push(HudAction::Restore);
                    }
                }
                if placed {
                    match self.anchor.status {
                        "lost" => status.push_str(" Anchor lost: the twin may drift until tracking recovers; Place again if it stays off."),
                        "pending" => status.push_str(" Anchoring…"),
                        "failed" => status.push_str(" The anchor could not be created: the twin may drift."),
                        _ => {}
                    }
                }
            }
            XrMode::Vr => {
                status.push_str("Point at the floor and pull the trigger to teleport; push the thumbstick left or right to turn; trigger on a part selects it.");
            }
        }
        if let Some(note) = &self.note {
            status.push(' ');
            status.push_str(note);
        }
        buttons.push(HudAction::Exit);

        let connection = self.live_summary();
        let selected = self.selected.map(|n| {
            let name = self.node_name(n);
            match self.sensor_of(n) {
                Some(sensor) => {
                    let value = self
                        .reading_text(&sensor.id)
                        .unwrap_or_else(|| "no data".into());
                    format!("Selected: {name}: {} {value}", sensor.name)
                }
                None => format!("Selected: {name} (no sensor)"),
            }
        });
        let align =
            if self.align.active || self.align.result.is_some() || self.align.error.is_some() {
                let mut text = match &self.align.result {
                    Some(r) => format!(
                        "Alignment: {} points, error {:.1} cm RMS.",
                        r.residuals_cm.len(),
                        r.rms_cm
                    ),
                    None => format!(
                        "Alignment: {} of at least 2 point pairs.",
                        self.align.real.len()
                    ),
                };
                if let Some(e) = &self.align.error {
                    text.push(' ');
                    text.push_str(e);
                }
                Some(text)
            } else {
                None
            };
        let tabletop = matches!(
            self.flow.current().map(|p| p.scale),
            Some(ScaleMode::Tabletop { .. })
        );
        HudView {
            status,
            connection,
            selected,
            align,
            buttons,
            scale_label: if tabletop {
                "Life size"
            } else {
                "Tabletop size"
            },
            aim: self.mode == XrMode::Ar && self.dom_overlay.is_some(),
        }
    }

    /// The live connection line, from the app (a few times a second).
    pub(super) fn live_summary(&self) -> String {
        let Some(app) = self.app.upgrade() else {
            return String::new();
        };
        app.try_borrow()
            .map(|a| a.connection_label())
            .unwrap_or_default()
    }

    /// One sensor's reading in words, as the detail card shows it (only the selected one is
    /// formatted, not every reading).
    fn reading_text(&self, id: &str) -> Option<String> {
        let app = self.app.upgrade()?;
        let a = app.try_borrow().ok()?;
        a.reading_text(id)
    }
}
