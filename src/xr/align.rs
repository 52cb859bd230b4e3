//! Precise alignment: the twin's pose from two or more point pairs (a point picked on the model,
//! the same point measured in the room by hit-test), solved by least squares.
//!
//! Only yaw (rotation about the vertical) and translation are solved. Hit-test results on real
//! devices carry a few degrees of tilt noise; letting that tilt the twin would make a building
//! lean, so the twin stays upright by construction and tilt shows up as residual error instead.
//! Scale stays 1: the twin is authored in metres, and a mismatch is reported (see
//! [`Alignment::scale_ratio`]) rather than silently absorbed.

use glam::{DVec3, Mat4, Quat, Vec3};

/// Pairs closer than this in the horizontal plane cannot fix a yaw (metres).
const MIN_HORIZONTAL_SPREAD_M: f64 = 0.01;
/// Points closer than this together count as one point (metres).
const MIN_SPREAD_M: f64 = 0.001;

/// One correspondence: where a point is on the twin and where it was measured in the room.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointPair {
    /// The point in twin (model) space, metres.
    pub model: Vec3,
    /// The same point in world / reference space, metres (e.g. a hit-test position).
    pub world: Vec3,
}

/// Why the pairs do not determine a pose; each message says what the user should do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlignError {
    /// Fewer than two pairs were given.
    #[error("alignment needs at least 2 point pairs, got {got}; pick another point")]
    TooFewPairs {
        /// Pairs given.
        got: usize,
    },
    /// A coordinate was NaN or infinite.
    #[error("point pair {index} has a non-finite coordinate; measure that point again")]
    NonFinite {
        /// Index of the offending pair.
        index: usize,
    },
    /// All model points, or all measured points, are (nearly) the same point.
    #[error("all {which} points coincide; pick points at least 1 cm apart")]
    CoincidentPoints {
        /// "model" or "measured".
        which: &'static str,
    },
    /// The points differ only in height, so no heading can be derived from them.
    #[error("the {which} points lie on one vertical line; pick points apart horizontally")]
    VerticallyStacked {
        /// "model" or "measured".
        which: &'static str,
    },
    /// The horizontal shapes of the two sets do not agree on any heading.
    #[error("the measured points do not match the model points; check the pairing order")]
    NoHeading,
}

/// A solved alignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Alignment {
    /// Twin space → world: rotation about +Y by [`Self::yaw`], then translation.
    pub pose: Mat4,
    /// Rotation about +Y, radians, in (-π, π].
    pub yaw: f32,
    /// Translation part of [`Self::pose`], metres.
    pub translation: Vec3,
    /// Distance from each measured point to its posed model point, centimetres, in input order.
    pub residuals_cm: Vec<f32>,
    /// Root mean square of the residuals, centimetres.
    pub rms_cm: f32,
    /// Spread of the measured points over spread of the model points (about their centroids).
    /// Far from 1 means the twin's units or the pairing are wrong, since scale is not solved.
    pub scale_ratio: f32,
}

/// Solves yaw and translation minimising the summed squared distance between posed model
/// points and measured points.
///
/// Closed form: heights decouple from yaw, so the vertical offset is the difference of mean
/// heights; in the horizontal plane it is the 2-D Procrustes problem, whose optimum yaw is
/// `atan2(Σ cross, Σ dot)` of the centred XZ vectors. Sums run in f64 so far-away reference
/// spaces do not lose centimetres.
pub fn solve(pairs: &[PointPair]) -> Result<Alignment, AlignError> {
    if pairs.len() < 2 {
        return Err(AlignError::TooFewPairs { got: pairs.len() });
    }
    if let Some(index) = pairs
        .iter()
        .position(|p| !p.model.is_finite() || !p.world.is_finite())
    {
        return Err(AlignError::NonFinite { index });
    }
    let model: Vec<DVec3> = pairs.iter().map(|p| p.model.as_dvec3()).collect();
    let world: Vec<DVec3> = pairs.iter().map(|p| p.world.as_dvec3()).collect();
    let model_c = centroid(&model);
    let world_c = centroid(&world);
    check_spread(&model, model_c, "model")?;
    check_spread(&world, world_c, "measured")?;

    // With R = rotation about +Y by θ: R(x, z) = (cx + sz, -sx + cz). Maximising Σ b·R a gives
    // c·Σ(a·b) + s·Σ(a_z b_x − a_x b_z).
    let (mut dot, mut cross) = (0.0_f64, 0.0_f64);
    for (m, w) in model.iter().zip(&world) {
        let a = *m - model_c;
        let b = *w - world_c;
        dot += a.x * b.x + a.z * b.z;
        cross += a.z * b.x - a.x * b.z;
    }
    if dot.hypot(cross) < 1e-12 {
        return Err(AlignError::NoHeading);
    }
    let yaw = cross.atan2(dot);
    let rot = glam::DQuat::from_rotation_y(yaw);
    let translation = world_c - rot * model_c;

    let residuals_cm: Vec<f32> = model
        .iter()
        .zip(&world)
        .map(|(m, w)| ((rot * *m + translation - *w).length() * 100.0) as f32)
        .collect();
    let rms_cm = (residuals_cm
        .iter()
        .map(|r| f64::from(*r).powi(2))
        .sum::<f64>()
        / residuals_cm.len() as f64)
        .sqrt() as f32;
    let spread =
        |pts: &[DVec3], c: DVec3| pts.iter().map(|p| (*p - c).length_squared()).sum::<f64>();
    let scale_ratio = (spread(&world, world_c) / spread(&model, model_c)).sqrt() as f32;

    let yaw = yaw as f32;
    let translation = translation.as_vec3();
    Ok(Alignment {
        pose: Mat4::from_rotation_translation(Quat::from_rotation_y(yaw), translation),
        yaw,
        translation,
        residuals_cm,
        rms_cm,
        scale_ratio,
    })
}

fn centroid(points: &[DVec3]) -> DVec3 {
    points.iter().copied().sum::<DVec3>() / points.len() as f64
}

/// Rejects sets that cannot fix a heading: one repeated point, or points on a vertical line.
fn check_spread(points: &[DVec3], c: DVec3, which: &'static str) -> Result<(), AlignError> {
    let max_3d = points.iter().map(|p| (*p - c).length()).fold(0.0, f64::max);
    if max_3d < MIN_SPREAD_M {
        return Err(AlignError::CoincidentPoints { which });
    }
    let max_xz = points
        .iter()
        .map(|p| (p.x - c.x).hypot(p.z - c.z))
        .fold(0.0, f64::max);
    // Half the pair distance is the distance to the centroid, hence the factor.
    if max_xz < MIN_HORIZONTAL_SPREAD_M * 0.5 {
        return Err(AlignError::VerticallyStacked { which });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known_pose() -> Mat4 {
        Mat4::from_rotation_translation(Quat::from_rotation_y(2.3), Vec3::new(4.0, -1.2, -7.5))
    }

    fn pairs_for(pose: Mat4, model: &[Vec3]) -> Vec<PointPair> {
        model
            .iter()
            .map(|m| PointPair {
                model: *m,
                world: pose.transform_point3(*m),
            })
            .collect()
    }

    #[test]
    fn recovers_a_known_pose_from_two_points() {
        let pose = known_pose();
        let pairs = pairs_for(pose, &[Vec3::new(0.0, 0.0, 0.0), Vec3::new(3.0, 1.0, 2.0)]);
        let a = solve(&pairs).expect("two good pairs");
        assert!(a.pose.abs_diff_eq(pose, 1e-4), "{:?}", a.pose);
        assert!((a.yaw - 2.3).abs() < 1e-5);
        assert!(a.rms_cm < 0.01, "rms {}", a.rms_cm);
        assert!((a.scale_ratio - 1.0).abs() < 1e-5);
    }

    #[test]
    fn recovers_a_known_pose_from_three_points() {
        let pose =
            Mat4::from_rotation_translation(Quat::from_rotation_y(-0.4), Vec3::new(0.5, 0.0, 2.0));
        let pairs = pairs_for(
            pose,
            &[
                Vec3::new(1.0, 0.0, 0.0),
                Vec3::new(0.0, 2.0, 5.0),
                Vec3::new(-3.0, 0.5, 1.0),
            ],
        );
        let a = solve(&pairs).expect("three good pairs");
        assert!(a.pose.abs_diff_eq(pose, 1e-4));
        assert_eq!(a.residuals_cm.len(), 3);
        assert!(a.residuals_cm.iter().all(|r| *r < 0.01));
    }

    #[test]
    fn noise_gives_small_residuals_and_a_close_pose() {
        let pose = known_pose();
        let model = [
            Vec3::new(0.0, 0.0, 0.0),
            Vec3::new(4.0, 0.0, 0.0),
            Vec3::new(4.0, 0.0, 3.0),
            Vec3::new(0.0, 2.5, 3.0),
        ];
        let noise = [
            Vec3::new(0.01, -0.005, 0.0),
            Vec3::new(-0.008, 0.01, 0.006),
            Vec3::new(0.0, 0.004, -0.01),
            Vec3::new(0.007, -0.01, 0.004),
        ];
        let pairs: Vec<PointPair> = pairs_for(pose, &model)
            .into_iter()
            .zip(noise)
            .map(|(p, n)| PointPair {
                world: p.world + n,
                ..p
            })
            .collect();
        let a = solve(&pairs).expect("noisy but valid");
        assert!(a.rms_cm > 0.0 && a.rms_cm < 2.0, "rms {}", a.rms_cm);
        assert!(a.residuals_cm.iter().all(|r| *r < 2.5));
        assert!((a.yaw - 2.3).abs() < 0.01, "yaw {}", a.yaw);
        assert!(a.translation.distance(pose.w_axis.truncate()) < 0.02);
    }

    #[test]
    fn vertical_offset_between_the_sets_is_solved_by_translation() {
        // The model's origin is 3 m above its floor; the room's floor is at y = 0.
        let model = [Vec3::new(0.0, -3.0, 0.0), Vec3::new(2.0, -3.0, 1.0)];
        let pairs: Vec<PointPair> = model
            .iter()
            .map(|m| PointPair {
                model: *m,
                world: *m + Vec3::new(1.0, 3.0, 0.0),
            })
            .collect();
        let a = solve(&pairs).expect("valid");
        assert!(a.yaw.abs() < 1e-6);
        assert!(a.translation.abs_diff_eq(Vec3::new(1.0, 3.0, 0.0), 1e-5));
        assert!(a.rms_cm < 0.01);
    }

    #[test]
    fn a_tilted_measurement_does_not_tilt_the_twin() {
        let tilt = Mat4::from_rotation_x(0.15);
        let pose = known_pose() * tilt;
        let pairs = pairs_for(
            pose,
            &[
                Vec3::new(0.0, 0.0, 0.0),
                Vec3::new(2.0, 0.0, 0.0),
                Vec3::new(0.0, 0.0, 3.0),
            ],
        );
        let a = solve(&pairs).expect("valid");
        assert!(
            a.pose.y_axis.abs_diff_eq(glam::Vec4::Y, 1e-6),
            "stays upright"
        );
        assert!(
            a.rms_cm > 1.0,
            "the tilt shows up as residual, {}",
            a.rms_cm
        );
        assert!((a.yaw - 2.3).abs() < 0.01, "heading still found, {}", a.yaw);
    }

    #[test]
    fn degenerate_input_is_rejected_with_a_reason() {
        let p = |m: Vec3, w: Vec3| PointPair { model: m, world: w };
        assert_eq!(solve(&[]), Err(AlignError::TooFewPairs { got: 0 }));
        assert_eq!(
            solve(&[p(Vec3::ZERO, Vec3::ONE)]),
            Err(AlignError::TooFewPairs { got: 1 })
        );
        assert_eq!(
            solve(&[p(Vec3::ONE, Vec3::ZERO), p(Vec3::ONE, Vec3::X)]),
            Err(AlignError::CoincidentPoints { which: "model" })
        );
        assert_eq!(
            solve(&[p(Vec3::ZERO, Vec3::ZERO), p(Vec3::Y * 2.0, Vec3::X)]),
            Err(AlignError::VerticallyStacked { which: "model" })
        );
        assert_eq!(
            solve(&[p(Vec3::ZERO, Vec3::ZERO), p(Vec3::X, Vec3::Y)]),
            Err(AlignError::VerticallyStacked { which: "measured" })
        );
        assert_eq!(
            solve(&[
                p(Vec3::ZERO, Vec3::ZERO),
                p(Vec3::X, Vec3::new(f32::NAN, 0.0, 0.0))
            ]),
            Err(AlignError::NonFinite { index: 1 })
        );
        // Messages tell the user what to do.
        assert!(
            AlignError::VerticallyStacked { which: "model" }
                .to_string()
                .contains("apart horizontally")
        );
    }

    #[test]
    fn wrong_units_show_in_the_scale_ratio() {
        // The model was authored in centimetres: the measured spread is 1/100 of it.
        let model = [
            Vec3::ZERO,
            Vec3::new(300.0, 0.0, 0.0),
            Vec3::new(0.0, 0.0, 200.0),
        ];
        let pairs: Vec<PointPair> = model
            .iter()
            .map(|m| PointPair {
                model: *m,
                world: *m * 0.01,
            })
            .collect();
        let a = solve(&pairs).expect("solvable");
        assert!((a.scale_ratio - 0.01).abs() < 1e-4);
        assert!(a.rms_cm > 100.0);
    }
}
