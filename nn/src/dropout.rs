//! `Dropout`: inverted dropout, seeded. In training each element is zeroed with
//! probability `p` and the survivors are scaled by `1 / (1 - p)`, so evaluation (where
//! the layer is the identity) needs no rescaling.
//!
//! Masks are reproducible: a layer's seed is explicit ([`Dropout::builder`]) or the next
//! one of the global stream ([`Dropout::new`]), and forward call number `k` of a layer
//! with seed `s` draws its mask from the counter-based stream `draw(s, k)`, so two runs
//! that make the same calls see the same masks, on any backend. The call counter is atomic rather than a
//! `Cell`, so a model holding dropout stays `Sync` (shareable across threads). It is the
//! layer's random-stream state, `{prefix}.step` in [`Module::rng_state`], so a
//! checkpoint that saves it resumes the same mask sequence.

use std::sync::atomic::{AtomicU64, Ordering};

use lamina_tensor::random::next_seed;
use lamina_tensor::{rng, Error, Result, Tensor};

use crate::module::prefixed;
use crate::Module;

/// Inverted dropout, seeded: `x · mask / (1 - p)`, `mask ~ Bernoulli(1 - p)`, in
/// training; the identity in evaluation. Starts in training mode, as in PyTorch.
///
/// ```
/// use lamina_nn::{Dropout, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let mut drop = Dropout::new(0.5)?;
/// let x = Tensor::ones([4, 4], DType::F32, &dev)?;
/// let y = drop.forward(&x)?;                 // zeros and twos
/// assert!(y.to_vec::<f32>()?.iter().all(|&v| v == 0.0 || v == 2.0));
/// drop.eval();
/// assert_eq!(drop.forward(&x)?.to_vec::<f32>()?, vec![1.0; 16]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    seed: u64,
    step: AtomicU64,
    training: bool,
}

impl Dropout {
    /// Dropout with probability `p` in `[0, 1]`, masks drawn from a seed taken from the
    /// global stream ([`lamina_tensor::random`]); [`Dropout::builder`] takes an explicit
    /// seed.
    pub fn new(p: f64) -> Result<Dropout> {
        Dropout::builder(p).build()
    }

    /// Options of a dropout layer: `Dropout::builder(0.5).seed(7).build()?`.
    pub fn builder(p: f64) -> DropoutBuilder {
        DropoutBuilder { p, seed: None }
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    pub fn is_training(&self) -> bool {
        self.training
    }

    /// How many training-mode forwards have drawn a mask: save it with a checkpoint and
    /// restore it with [`set_step`](Dropout::set_step) to resume the same mask sequence
    /// (for a whole model: [`Module::rng_state`], [`Module::set_rng_state`]).
    pub fn step(&self) -> u64 {
        self.step.load(Ordering::Relaxed)
    }

    pub fn set_step(&self, step: u64) {
        self.step.store(step, Ordering::Relaxed);
    }
}

/// Options of a [`Dropout`] layer: its probability and, optionally, its seed.
///
/// ```
/// use lamina_nn::{Dropout, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::ones([64], DType::F32, &dev)?;
/// let (a, b) = (Dropout::builder(0.5).seed(7).build()?, Dropout::builder(0.5).seed(7).build()?);
/// assert_eq!(a.forward(&x)?.to_vec::<f32>()?, b.forward(&x)?.to_vec::<f32>()?);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build`"]
pub struct DropoutBuilder {
    p: f64,
    seed: Option<u64>,
}

impl DropoutBuilder {
    /// Draws the masks from `seed` instead of a seed taken from the global stream.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The layer; an error if `p` is not in `[0, 1]`. Without
    /// [`seed`](DropoutBuilder::seed), takes one seed from
    /// [`lamina_tensor::random::next_seed`] (after checking `p`).
    pub fn build(&self) -> Result<Dropout> {
        check_p(self.p)?;
        Ok(Dropout {
            p: self.p,
            seed: self.seed.unwrap_or_else(next_seed),
            step: AtomicU64::new(0),
            training: true,
        })
    }
}

/// Errors unless `p` is a probability.
fn check_p(p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::Invalid {
            op: "dropout",
            msg: format!("probability must be in [0, 1], got {p}"),
        })
    }
}

impl Clone for Dropout {
    fn clone(&self) -> Self {
        Dropout {
            p: self.p,
            seed: self.seed,
            step: AtomicU64::new(self.step()),
            training: self.training,
        }
    }
}

/// Functional inverted dropout: with `training`, zeroes each element of `x` with
/// probability `p` (mask drawn from `seed`) and scales the rest by `1 / (1 - p)`;
/// otherwise returns `x`.
pub fn dropout(x: &Tensor, p: f64, seed: u64, training: bool) -> Result<Tensor> {
    check_p(p)?;
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    if p == 1.0 {
        // Everything dropped; multiplying keeps the graph (and a zero gradient).
        return x.mul_scalar(0.0);
    }
    let u = Tensor::rand(seed, x.shape(), x.dtype(), x.device())?;
    // keep where u >= p: probability 1 - p.
    let keep = x.mask_as(&u.ge_scalar(p)?)?;
    x * keep.mul_scalar(1.0 / (1.0 - p))?
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let step = self.step.fetch_add(1, Ordering::Relaxed);
        dropout(x, self.p, rng::draw(self.seed, step), true)
    }

    fn visit<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Tensor)) {}

    fn visit_mut<'a>(&'a mut self, _: &str, _: &mut dyn FnMut(String, &'a mut Tensor)) {}

    fn set_training(&mut self, on: bool) {
        self.training = on;
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    /// `Dropout(p 0.5)`.
    fn name(&self) -> String {
        format!("Dropout(p {})", self.p)
    }

    fn training_mode(&self) -> Option<bool> {
        Some(self.training)
    }

    fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
        f(prefixed(prefix, "step"), self.step());
    }

    fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
        f(prefixed(prefix, "step"), self.step.get_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_tensor::{DType, Device};
    use std::collections::BTreeMap;

    fn dev() -> Device {
        lamina_backend_cpu::device()
    }

    fn ones(n: usize) -> Tensor {
        Tensor::ones([n], DType::F32, &dev()).unwrap()
    }

    #[test]
    fn zeroes_about_p_and_scales_survivors() {
        let n = 20_000;
        for p in [0.1, 0.5, 0.8] {
            let d = Dropout::builder(p).seed(3).build().unwrap();
            let y = d.forward(&ones(n)).unwrap().to_vec::<f32>().unwrap();
            let scale = (1.0 / (1.0 - p)) as f32;
            assert!(y.iter().all(|&v| v == 0.0 || v == scale));
            let zeroed = y.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
            // Binomial standard error sqrt(p(1-p)/n) <= 0.0036: allow 5 of them.
            assert!((zeroed - p).abs() < 0.018, "p {p}: zeroed {zeroed}");
            // Inverted scaling keeps the mean.
            let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            assert!((mean - 1.0).abs() < 0.05, "p {p}: mean {mean}");
        }
    }

    #[test]
    fn eval_is_identity_and_extremes() {
        let x = Tensor::from_vec(vec![1.0f32, -2.0, 3.0], [3], &dev()).unwrap();
        let mut d = Dropout::builder(0.9).seed(1).build().unwrap();
        d.eval();
        assert!(!d.is_training());
        assert_eq!(
            d.forward(&x).unwrap().to_vec::<f32>().unwrap(),
            vec![1.0, -2.0, 3.0]
        );
        let keep_all = Dropout::builder(0.0).seed(1).build().unwrap();
        assert_eq!(
            keep_all.forward(&x).unwrap().to_vec::<f32>().unwrap(),
            vec![1.0, -2.0, 3.0]
        );
        let drop_all = Dropout::builder(1.0).seed(1).build().unwrap();
        assert_eq!(
            drop_all.forward(&x).unwrap().to_vec::<f32>().unwrap(),
            vec![0.0; 3]
        );
        let msg = Dropout::new(1.5).unwrap_err().to_string();
        assert_eq!(msg, "dropout: probability must be in [0, 1], got 1.5");
        assert!(Dropout::builder(-0.1).seed(0).build().is_err());
        assert!(Dropout::builder(f64::NAN).seed(0).build().is_err());
    }

    #[test]
    fn reproducible_with_a_new_mask_each_call() {
        let a = Dropout::builder(0.5).seed(7).build().unwrap();
        let b = Dropout::builder(0.5).seed(7).build().unwrap();
        let a1 = a.forward(&ones(64)).unwrap().to_vec::<f32>().unwrap();
        let a2 = a.forward(&ones(64)).unwrap().to_vec::<f32>().unwrap();
        assert_ne!(a1, a2, "each call draws a new mask");
        assert_eq!(a.step(), 2);
        assert_eq!(a1, b.forward(&ones(64)).unwrap().to_vec::<f32>().unwrap());
        assert_eq!(a2, b.forward(&ones(64)).unwrap().to_vec::<f32>().unwrap());
        // Rewinding the counter replays the sequence.
        b.set_step(1);
        assert_eq!(a2, b.forward(&ones(64)).unwrap().to_vec::<f32>().unwrap());
        let c = Dropout::builder(0.5).seed(8).build().unwrap();
        assert_ne!(a1, c.forward(&ones(64)).unwrap().to_vec::<f32>().unwrap());
    }

    #[test]
    fn rng_state_round_trip_resumes_the_mask_sequence() {
        let a = Dropout::builder(0.5).seed(7).build().unwrap();
        for _ in 0..3 {
            a.forward(&ones(64)).unwrap();
        }
        let saved = a.rng_state();
        assert_eq!(saved, BTreeMap::from([("step".to_string(), 3)]));
        let mut b = Dropout::builder(0.5).seed(7).build().unwrap();
        b.set_rng_state(&saved).unwrap();
        assert_eq!(b.step(), 3);
        for _ in 0..2 {
            assert_eq!(
                a.forward(&ones(64)).unwrap().to_vec::<f32>().unwrap(),
                b.forward(&ones(64)).unwrap().to_vec::<f32>().unwrap()
            );
        }
        // Without the restore, the fresh layer replays mask 0 instead of mask 3.
        let c = Dropout::builder(0.5).seed(7).build().unwrap();
        assert_ne!(
            b.forward(&ones(64)).unwrap().to_vec::<f32>().unwrap(),
            c.forward(&ones(64)).unwrap().to_vec::<f32>().unwrap()
        );
    }

    #[test]
    fn rng_state_names_must_match() {
        let mut d = Dropout::builder(0.5).seed(7).build().unwrap();
        d.set_step(5);
        let msg = d
            .set_rng_state(&BTreeMap::from([("1.step".to_string(), 3)]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "random-stream state: the model's stream `step` has no position in the state; \
             the state's unmatched names are `1.step`"
        );
        let msg = d.set_rng_state(&BTreeMap::new()).unwrap_err().to_string();
        assert_eq!(
            msg,
            "random-stream state: the model's stream `step` has no position in the state"
        );
        let extra = BTreeMap::from([("step".to_string(), 3), ("seed".to_string(), 1)]);
        let msg = d.set_rng_state(&extra).unwrap_err().to_string();
        assert_eq!(
            msg,
            "random-stream state: the state's position `seed` matches no stream of the model"
        );
        assert_eq!(d.step(), 5, "a rejected state writes nothing");
    }

    #[test]
    fn eval_does_not_advance_the_counter() {
        let mut d = Dropout::builder(0.5).seed(7).build().unwrap();
        d.eval();
        d.forward(&ones(4)).unwrap();
        assert_eq!(d.step(), 0);
    }

    #[test]
    fn functional_form_matches_the_mask_rule() {
        // Element i is kept iff its uniform draw u_i >= p.
        let u = Tensor::rand(5, [16], DType::F64, &dev())
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        let x = Tensor::ones([16], DType::F64, &dev()).unwrap();
        let y = dropout(&x, 0.3, 5, true).unwrap().to_vec::<f64>().unwrap();
        for (ui, yi) in u.iter().zip(y) {
            let want = if *ui >= 0.3 { 1.0 / (1.0 - 0.3) } else { 0.0 };
            assert_eq!(yi, want);
        }
        assert_eq!(
            dropout(&x, 0.3, 5, false).unwrap().to_vec::<f64>().unwrap(),
            vec![1.0; 16]
        );
    }
}

/// Channel dropout (PyTorch `F.dropout2d`): in training, each channel of each sample of
/// `[N, C, *]` is zeroed whole with probability `p` and the kept ones scaled by
/// `1 / (1 − p)`; the mask comes from `seed`.
pub fn dropout2d(x: &Tensor, p: f64, seed: u64, training: bool) -> Result<Tensor> {
    check_p(p)?;
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    if x.rank() < 2 {
        return Err(Error::Invalid {
            op: "dropout2d",
            msg: format!("input {}: expected [N, C, *]", x.shape()),
        });
    }
    if p == 1.0 {
        return x.mul_scalar(0.0);
    }
    let mut shape = x.dims()[..2].to_vec();
    shape.extend(std::iter::repeat_n(1, x.rank() - 2));
    let u = Tensor::rand(seed, shape, x.dtype(), x.device())?;
    let keep = x.mask_as(&u.ge_scalar(p)?)?;
    x * keep.mul_scalar(1.0 / (1.0 - p))?
}

/// Channel dropout as a layer (PyTorch `nn.Dropout2d`): [`dropout2d`] with a fresh mask
/// per training-mode forward, drawn like [`Dropout`]'s (same seeding, same `step`
/// counter in the random-stream state).
#[derive(Debug)]
pub struct Dropout2d(Dropout);

impl Dropout2d {
    /// Probability `p` in `[0, 1]`, seed from the global stream.
    pub fn new(p: f64) -> Result<Dropout2d> {
        Ok(Dropout2d(Dropout::new(p)?))
    }
    /// With an explicit seed for the masks.
    pub fn with_seed(p: f64, seed: u64) -> Result<Dropout2d> {
        Ok(Dropout2d(Dropout::builder(p).seed(seed).build()?))
    }
}

impl Module for Dropout2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let d = &self.0;
        if !d.training || d.p == 0.0 {
            return Ok(x.clone());
        }
        let step = d.step.fetch_add(1, Ordering::Relaxed);
        dropout2d(x, d.p, rng::draw(d.seed, step), true)
    }
    fn visit<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Tensor)) {}
    fn visit_mut<'a>(&'a mut self, _: &str, _: &mut dyn FnMut(String, &'a mut Tensor)) {}
    fn set_training(&mut self, on: bool) {
        self.0.set_training(on);
    }
    fn name(&self) -> String {
        format!("Dropout2d(p {})", self.0.p)
    }
    fn training_mode(&self) -> Option<bool> {
        self.0.training_mode()
    }
    fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
        self.0.visit_rng_state(prefix, f)
    }
    fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
        self.0.visit_rng_state_mut(prefix, f)
    }
}
