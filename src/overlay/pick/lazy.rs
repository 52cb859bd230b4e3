//! The pick index built when it is first needed, not while the model loads: building it for a
//! large assembly takes as long as uploading the model, and the first frame should not wait.

use std::cell::OnceCell;
use std::rc::Rc;

use glam::Mat4;

use super::{PickIndex, Ray};
use crate::model::TwinModel;

/// A [`PickIndex`] for one model, built on the first pick or on [`Self::warm`] (which the page
/// calls once the model is on screen), whichever comes first. Shared by the inline view and XR.
#[derive(Debug)]
pub struct LazyPickIndex {
    model: Rc<TwinModel>,
    index: OnceCell<PickIndex>,
}

impl LazyPickIndex {
    /// An index of `model`, not built yet.
    pub fn new(model: Rc<TwinModel>) -> Self {
        Self {
            model,
            index: OnceCell::new(),
        }
    }

    /// Whether the index has been built.
    pub fn is_built(&self) -> bool {
        self.index.get().is_some()
    }

    /// The index, built now if it was not yet.
    pub fn get(&self) -> &PickIndex {
        self.index.get_or_init(|| PickIndex::new(&self.model))
    }

    /// Builds the index if it was not yet, so the first pick does not wait.
    pub fn warm(&self) {
        self.get();
    }

    /// As [`PickIndex::pick`].
    pub fn pick(&self, placement: Mat4, ray: Ray) -> Option<(usize, f32)> {
        self.get().pick(&self.model, placement, ray)
    }

    /// As [`PickIndex::pick_within`].
    pub fn pick_within(
        &self,
        placement: Mat4,
        ray: Ray,
        max_distance: f32,
    ) -> Option<(usize, f32)> {
        self.get()
            .pick_within(&self.model, placement, ray, max_distance)
    }
}

#[cfg(test)]
mod tests {
    use glam::Vec3;

    use super::*;
    use crate::overlay::pick::pick_node;
    use crate::render::test_scene::assembly;

    #[test]
    fn the_index_is_built_on_first_pick_and_picks_as_the_eager_one() {
        let model = Rc::new(assembly(300, 3, 4, false));
        let lazy = LazyPickIndex::new(model.clone());
        assert!(!lazy.is_built(), "nothing is built while the model loads");
        let ray = Ray {
            origin: Vec3::new(0.5, 0.5, 20.0),
            dir: Vec3::NEG_Z,
        };
        let hit = lazy.pick(Mat4::IDENTITY, ray);
        assert!(lazy.is_built());
        assert!(hit.is_some(), "the ray crosses the first unit");
        assert_eq!(hit, pick_node(&model, Mat4::IDENTITY, ray));
        assert_eq!(
            hit,
            PickIndex::new(&model).pick(&model, Mat4::IDENTITY, ray)
        );
    }

    #[test]
    fn warming_builds_the_index_once() {
        let lazy = LazyPickIndex::new(Rc::new(assembly(50, 1, 2, false)));
        lazy.warm();
        assert!(lazy.is_built());
        let first: *const PickIndex = lazy.get();
        lazy.warm();
        assert!(std::ptr::eq(first, lazy.get()), "built once");
        assert_eq!(lazy.get().part_count(), 50);
    }
}
