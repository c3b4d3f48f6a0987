//! Recurrent layers as PyTorch has them: the cells [`RnnCell`] (tanh or relu),
//! [`LstmCell`] and [`GruCell`] (one time step), and the layers [`Rnn`], [`Lstm`] and
//! [`Gru`] (whole sequences, stacked layers, both directions). Parameters are named and
//! shaped as PyTorch's (`weight_ih_l0 [G·H, H_in]`, `weight_hh_l0 [G·H, H]`,
//! `bias_ih_l0`, `bias_hh_l0`, `weight_hr_l0` for an LSTM's projection, `_reverse` for
//! the backward direction; `weight_ih` etc. for a cell), gates in PyTorch's order (LSTM
//! `i, f, g, o`; GRU `r, z, n`, with `b_hn` inside the reset product), so a PyTorch
//! `state_dict` loads and gives the same outputs.
//!
//! Layouts follow PyTorch: input `[L, N, H_in]` (`[N, L, H_in]` with `batch_first`) or
//! unbatched `[L, H_in]`; initial and final states `[num_layers · D, N, H_out]`
//! (unbatched `[num_layers · D, H_out]`, never batch-first), `D` = 2 when bidirectional.
//! The `forward_lengths` methods take each sequence's length, the role of PyTorch's
//! packed sequences: outputs past a sequence's end are zero and its final state is the
//! state at its last valid step (the reverse direction starts there).
//!
//! The arithmetic is a composite of tensor ops (the input projection of all time steps
//! as one matmul, then one matmul per step for the hidden projection and the gate math),
//! which autograd differentiates. A layer without per-sequence lengths (nor an LSTM
//! projection) runs each direction's recurrence as one recorded op ([`lstm_sequence`],
//! [`gru_sequence`], [`rnn_sequence`]), whose backward forms the recurrent weight's gradient
//! with one matmul over all steps.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use lamina_tensor::random::next_seed;
use lamina_tensor::{rng, DType, Device, Error, Result, Tensor};

use crate::dropout::dropout;
use crate::init::{derive_seed, Init};
use crate::module::prefixed;
use crate::recurrence::{gru_sequence, lstm_sequence, rnn_sequence};
use crate::Module;

/// The nonlinearity of an Elman [`Rnn`] or [`RnnCell`]: PyTorch's `nonlinearity="tanh"`
/// (the default) or `"relu"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RnnNonlinearity {
    #[default]
    Tanh,
    Relu,
}

/// Which recurrence a layer or cell computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Rnn(RnnNonlinearity),
    Lstm,
    Gru,
}

impl Mode {
    /// Gates stacked in the weights' first dim.
    fn gates(self) -> usize {
        match self {
            Mode::Rnn(_) => 1,
            Mode::Lstm => 4,
            Mode::Gru => 3,
        }
    }
}

/// The parameters of one direction of one layer, or of a cell.
#[derive(Clone, Debug)]
struct Weights {
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Option<Tensor>,
    bias_hh: Option<Tensor>,
    /// An LSTM's projection `[proj, H]`.
    weight_hr: Option<Tensor>,
}

/// PyTorch's `reset_parameters`: every parameter `U(±1/√hidden)`.
struct WeightSpec {
    mode: Mode,
    input: usize,
    hidden: usize,
    proj: usize,
    bias: bool,
    dtype: DType,
}

impl WeightSpec {
    fn build(&self, seed: u64, device: &Device) -> Result<Weights> {
        let g = self.mode.gates() * self.hidden;
        let hout = if self.proj > 0 {
            self.proj
        } else {
            self.hidden
        };
        let b = if self.hidden > 0 {
            1.0 / (self.hidden as f64).sqrt()
        } else {
            0.0
        };
        let init = Init::Uniform { lo: -b, hi: b };
        let t = |shape: Vec<usize>, stream: u64| {
            init.tensor(shape, derive_seed(seed, stream), self.dtype, device)
        };
        Ok(Weights {
            weight_ih: t(vec![g, self.input], 0)?,
            weight_hh: t(vec![g, hout], 1)?,
            bias_ih: self.bias.then(|| t(vec![g], 2)).transpose()?,
            bias_hh: self.bias.then(|| t(vec![g], 3)).transpose()?,
            weight_hr: (self.proj > 0)
                .then(|| t(vec![self.proj, self.hidden], 4))
                .transpose()?,
        })
    }
}

impl Weights {
    fn visit<'a>(&'a self, prefix: &str, suffix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        let name = |n: &str| prefixed(prefix, &format!("{n}{suffix}"));
        f(name("weight_ih"), &self.weight_ih);
        f(name("weight_hh"), &self.weight_hh);
        if let Some(b) = &self.bias_ih {
            f(name("bias_ih"), b);
        }
        if let Some(b) = &self.bias_hh {
            f(name("bias_hh"), b);
        }
        if let Some(w) = &self.weight_hr {
            f(name("weight_hr"), w);
        }
    }

    fn visit_mut<'a>(
        &'a mut self,
        prefix: &str,
        suffix: &str,
        f: &mut dyn FnMut(String, &'a mut Tensor),
    ) {
        let name = |n: &str| prefixed(prefix, &format!("{n}{suffix}"));
        f(name("weight_ih"), &mut self.weight_ih);
        f(name("weight_hh"), &mut self.weight_hh);
        if let Some(b) = &mut self.bias_ih {
            f(name("bias_ih"), b);
        }
        if let Some(b) = &mut self.bias_hh {
            f(name("bias_hh"), b);
        }
        if let Some(w) = &mut self.weight_hr {
            f(name("weight_hr"), w);
        }
    }

    /// `x W_ihᵀ + b_ih` over the last dim, and `+ b_hh` too where the step adds it outside
    /// every product (RNN, LSTM; a GRU's `b_hn` sits inside the reset product): one add
    /// for all time steps instead of one per step.
    fn input_proj(&self, mode: Mode, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight_ih.t()?)?;
        match (&self.bias_ih, &self.bias_hh, mode) {
            (Some(bi), Some(bh), Mode::Rnn(_) | Mode::Lstm) => y + (bi + bh)?,
            (Some(b), _, _) => y + b,
            (None, _, _) => Ok(y),
        }
    }

    /// One step from the input projection `xp [N, G·H]` and the state `h [N, H_out]`
    /// (and an LSTM's `c [N, H]`): the new `h` (and `c`).
    /// `xp` comes from [`input_proj`](Self::input_proj) (with `b_hh` for RNN and LSTM).
    fn step(
        &self,
        mode: Mode,
        xp: &Tensor,
        h: &Tensor,
        c: Option<&Tensor>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let mut hp = h.matmul(&self.weight_hh.t()?)?;
        if let (Mode::Gru, Some(b)) = (mode, &self.bias_hh) {
            hp = (hp + b)?;
        }
        match mode {
            Mode::Rnn(act) => {
                let s = (xp + &hp)?;
                let h = match act {
                    RnnNonlinearity::Tanh => s.tanh()?,
                    RnnNonlinearity::Relu => s.relu()?,
                };
                Ok((h, None))
            }
            Mode::Lstm => {
                let c = c.expect("an LSTM step has a cell state");
                // One fused op: the gates' activations and both new states.
                let hc = (xp + &hp)?.lstm_cell(c)?;
                let hidden = c.dims()[1];
                let c = hc.narrow(1, hidden, hidden)?;
                let mut h = hc.narrow(1, 0, hidden)?;
                if let Some(w) = &self.weight_hr {
                    h = h.matmul(&w.t()?)?;
                }
                Ok((h, Some(c)))
            }
            Mode::Gru => {
                let xs = xp.chunk(3, -1)?;
                let hs = hp.chunk(3, -1)?;
                let r = (&xs[0] + &hs[0])?.sigmoid()?;
                let z = (&xs[1] + &hs[1])?.sigmoid()?;
                let n = (&xs[2] + (&r * &hs[2])?)?.tanh()?;
                // (1 - z) ⊙ n + z ⊙ h
                let h = (&n + (&z * (h - &n)?)?)?;
                Ok((h, None))
            }
        }
    }
}

/// Errors unless the input and the states have the parameters' dtype.
fn check_dtypes(
    name: impl Fn() -> String,
    x: &Tensor,
    states: [Option<&Tensor>; 2],
    weight: &Tensor,
) -> Result<()> {
    let want = weight.dtype();
    let named = [("input", Some(x)), ("h", states[0]), ("c", states[1])];
    for (what, t) in named {
        let Some(t) = t else { continue };
        if t.dtype() != want {
            return Err(module_err(
                name(),
                format!(
                    "{what} has dtype {} (shape {}), the parameters {want}",
                    t.dtype(),
                    t.shape()
                ),
            ));
        }
    }
    Ok(())
}

/// A module error naming `module`.
fn module_err(module: String, msg: String) -> Error {
    Error::Module { module, msg }
}

// ---------------------------------------------------------------------------------------
// Cells

/// The shared part of the three cells.
#[derive(Clone, Debug)]
struct Cell {
    mode: Mode,
    input_size: usize,
    hidden_size: usize,
    w: Weights,
}

impl Cell {
    fn name(&self, ty: &str) -> String {
        let mut s = format!(
            "{ty}(input {}, hidden {}",
            self.input_size, self.hidden_size
        );
        if self.w.bias_ih.is_none() {
            s.push_str(", no bias");
        }
        if self.mode == Mode::Rnn(RnnNonlinearity::Relu) {
            s.push_str(", relu");
        }
        s.push(')');
        s
    }

    /// One step: `x [N, H_in]` or `[H_in]`, states of shape `[N, H]` or `[H]` (zeros
    /// when absent).
    fn run(
        &self,
        name: impl Fn() -> String,
        x: &Tensor,
        h: Option<&Tensor>,
        c: Option<&Tensor>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (hin, hid) = (self.input_size, self.hidden_size);
        let batched = match x.rank() {
            2 => true,
            1 => false,
            _ => {
                return Err(module_err(
                    name(),
                    format!(
                        "input must be [N, {hin}] or unbatched [{hin}], got shape {}",
                        x.shape()
                    ),
                ))
            }
        };
        if x.dims()[x.rank() - 1] != hin {
            return Err(module_err(
                name(),
                format!(
                    "input has {} features (shape {}), expected {hin}",
                    x.dims()[x.rank() - 1],
                    x.shape()
                ),
            ));
        }
        check_dtypes(&name, x, [h, c], &self.w.weight_ih)?;
        let x2 = if batched { x.clone() } else { x.unsqueeze(0)? };
        let n = x2.dims()[0];
        let want: Vec<usize> = if batched { vec![n, hid] } else { vec![hid] };
        let state = |s: Option<&Tensor>, what: &str| -> Result<Tensor> {
            match s {
                Some(s) if s.dims() != want.as_slice() => Err(module_err(
                    name(),
                    format!(
                        "{what} has shape {}, expected {want:?} for input of shape {}",
                        s.shape(),
                        x.shape()
                    ),
                )),
                Some(s) if batched => Ok(s.clone()),
                Some(s) => s.unsqueeze(0),
                None => Tensor::zeros([n, hid], x.dtype(), x.device()),
            }
        };
        let h = state(h, "h")?;
        let c = if self.mode == Mode::Lstm {
            Some(state(c, "c")?)
        } else {
            None
        };
        let xp = self.w.input_proj(self.mode, &x2)?;
        let (h, c) = self.w.step(self.mode, &xp, &h, c.as_ref())?;
        if batched {
            Ok((h, c))
        } else {
            Ok((h.squeeze(0)?, c.map(|c| c.squeeze(0)).transpose()?))
        }
    }
}

macro_rules! cell_type {
    ($(#[$doc:meta])* $ty:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $ty {
            cell: Cell,
        }

        impl $ty {
            /// Options of a cell, starting from PyTorch's defaults (see [`CellBuilder`]).
            pub fn builder(input_size: usize, hidden_size: usize) -> CellBuilder<$ty> {
                CellBuilder {
                    input_size,
                    hidden_size,
                    bias: true,
                    nonlinearity: RnnNonlinearity::Tanh,
                    dtype: DType::F32,
                    seed: None,
                    kind: PhantomData,
                }
            }

            /// A cell with PyTorch's defaults, its seed from the global stream.
            pub fn new(input_size: usize, hidden_size: usize, device: &Device) -> Result<$ty> {
                $ty::builder(input_size, hidden_size).build(device)
            }

            pub fn input_size(&self) -> usize {
                self.cell.input_size
            }

            pub fn hidden_size(&self) -> usize {
                self.cell.hidden_size
            }
        }

        impl Module for $ty {
            /// The new hidden state from the input and a zero state.
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                Ok(self.cell.run(|| self.name(), x, None, None)?.0)
            }

            fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
                self.cell.w.visit(prefix, "", f);
            }

            fn visit_mut<'a>(
                &'a mut self,
                prefix: &str,
                f: &mut dyn FnMut(String, &'a mut Tensor),
            ) {
                self.cell.w.visit_mut(prefix, "", f);
            }

            fn set_training(&mut self, _: bool) {}

            /// `GruCell(input 3, hidden 4)`, with `, no bias` (and `, relu`) as built.
            fn name(&self) -> String {
                self.cell.name($label)
            }
        }
    };
}

cell_type!(
    /// An Elman RNN cell (PyTorch `nn.RNNCell`): `h' = act(x W_ihᵀ + b_ih + h W_hhᵀ +
    /// b_hh)`, `act` tanh or relu. Input `[N, H_in]` or `[H_in]`, state `[N, H]` or `[H]`.
    ///
    /// ```
    /// use lamina_nn::{Module, RnnCell};
    /// use lamina_tensor::{DType, Tensor};
    /// let dev = lamina_backend_cpu::device();
    /// let cell = RnnCell::builder(3, 5).seed(1).build(&dev)?;
    /// let x = Tensor::ones([2, 3], DType::F32, &dev)?;
    /// let h = cell.forward_with(&x, None)?;
    /// let h = cell.forward_with(&x, Some(&h))?;
    /// assert_eq!(h.dims(), &[2, 5]);
    /// let names: Vec<String> = cell.named_parameters().into_iter().map(|(n, _)| n).collect();
    /// assert_eq!(names, ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]);
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    RnnCell,
    "RnnCell"
);

cell_type!(
    /// A long short-term memory cell (PyTorch `nn.LSTMCell`), gates `i, f, g, o` stacked
    /// in that order in `weight_ih [4H, H_in]` and `weight_hh [4H, H]`.
    ///
    /// ```
    /// use lamina_nn::LstmCell;
    /// use lamina_tensor::{DType, Tensor};
    /// let dev = lamina_backend_cpu::device();
    /// let cell = LstmCell::builder(3, 5).seed(1).build(&dev)?;
    /// let x = Tensor::ones([2, 3], DType::F32, &dev)?;
    /// let (h, c) = cell.forward_with(&x, None)?;
    /// let (h, c) = cell.forward_with(&x, Some((&h, &c)))?;
    /// assert_eq!((h.dims(), c.dims()), (&[2, 5][..], &[2, 5][..]));
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    LstmCell,
    "LstmCell"
);

cell_type!(
    /// A gated recurrent unit cell (PyTorch `nn.GRUCell`), gates `r, z, n`:
    /// `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`, `h' = (1 − z) ⊙ n + z ⊙ h`.
    ///
    /// ```
    /// use lamina_nn::GruCell;
    /// use lamina_tensor::{DType, Tensor};
    /// let dev = lamina_backend_cpu::device();
    /// let cell = GruCell::builder(3, 5).seed(1).build(&dev)?;
    /// let h = cell.forward_with(&Tensor::ones([3], DType::F32, &dev)?, None)?;  // unbatched
    /// assert_eq!(h.dims(), &[5]);
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    GruCell,
    "GruCell"
);

impl RnnCell {
    /// The next hidden state from the input and `h` (zeros when `None`).
    pub fn forward_with(&self, x: &Tensor, h: Option<&Tensor>) -> Result<Tensor> {
        Ok(self.cell.run(|| self.name(), x, h, None)?.0)
    }
}

impl GruCell {
    /// The next hidden state from the input and `h` (zeros when `None`).
    pub fn forward_with(&self, x: &Tensor, h: Option<&Tensor>) -> Result<Tensor> {
        Ok(self.cell.run(|| self.name(), x, h, None)?.0)
    }
}

impl LstmCell {
    /// The next `(h, c)` from the input and the state `(h, c)` (zeros when `None`).
    pub fn forward_with(
        &self,
        x: &Tensor,
        state: Option<(&Tensor, &Tensor)>,
    ) -> Result<(Tensor, Tensor)> {
        let (h, c) = state.unzip();
        let (h, c) = self.cell.run(|| self.name(), x, h, c)?;
        Ok((h, c.expect("an LSTM step returns a cell state")))
    }
}

/// Options of a cell ([`RnnCell`], [`LstmCell`], [`GruCell`]); `X::builder(in, hidden)`
/// starts from PyTorch's defaults (bias, f32, tanh, every parameter `U(±1/√hidden)`, a
/// seed from the global stream).
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build`"]
pub struct CellBuilder<T> {
    input_size: usize,
    hidden_size: usize,
    bias: bool,
    nonlinearity: RnnNonlinearity,
    dtype: DType,
    seed: Option<u64>,
    kind: PhantomData<T>,
}

impl<T> CellBuilder<T> {
    /// Whether the cell has the biases `bias_ih` and `bias_hh` (default true).
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Parameter dtype (default f32).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Draws the parameters from seeds derived from `seed` instead of a seed taken from
    /// the global stream.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    fn cell(&self, mode: Mode, device: &Device) -> Result<Cell> {
        let seed = self.seed.unwrap_or_else(next_seed);
        let spec = WeightSpec {
            mode,
            input: self.input_size,
            hidden: self.hidden_size,
            proj: 0,
            bias: self.bias,
            dtype: self.dtype,
        };
        Ok(Cell {
            mode,
            input_size: self.input_size,
            hidden_size: self.hidden_size,
            w: spec.build(seed, device)?,
        })
    }
}

impl CellBuilder<RnnCell> {
    /// Tanh (the default) or relu.
    pub fn nonlinearity(mut self, nonlinearity: RnnNonlinearity) -> Self {
        self.nonlinearity = nonlinearity;
        self
    }

    /// Builds the cell on `device`.
    pub fn build(&self, device: &Device) -> Result<RnnCell> {
        Ok(RnnCell {
            cell: self.cell(Mode::Rnn(self.nonlinearity), device)?,
        })
    }
}

impl CellBuilder<LstmCell> {
    /// Builds the cell on `device`.
    pub fn build(&self, device: &Device) -> Result<LstmCell> {
        Ok(LstmCell {
            cell: self.cell(Mode::Lstm, device)?,
        })
    }
}

impl CellBuilder<GruCell> {
    /// Builds the cell on `device`.
    pub fn build(&self, device: &Device) -> Result<GruCell> {
        Ok(GruCell {
            cell: self.cell(Mode::Gru, device)?,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Layers

/// The shared part of the three layers.
#[derive(Debug)]
struct Stack {
    mode: Mode,
    input_size: usize,
    hidden_size: usize,
    proj_size: usize,
    num_layers: usize,
    batch_first: bool,
    bidirectional: bool,
    dropout: f64,
    /// Layer `k`, direction `d` at `k · D + d`.
    weights: Vec<Weights>,
    seed: u64,
    step: AtomicU64,
    training: bool,
}

impl Clone for Stack {
    fn clone(&self) -> Self {
        Stack {
            mode: self.mode,
            input_size: self.input_size,
            hidden_size: self.hidden_size,
            proj_size: self.proj_size,
            num_layers: self.num_layers,
            batch_first: self.batch_first,
            bidirectional: self.bidirectional,
            dropout: self.dropout,
            weights: self.weights.clone(),
            seed: self.seed,
            step: AtomicU64::new(self.step.load(Ordering::Relaxed)),
            training: self.training,
        }
    }
}

/// A layer's output and final states `h_n` (and an LSTM's `c_n`).
type Run = (Tensor, Tensor, Option<Tensor>);

impl Stack {
    fn dirs(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    fn hidden_out(&self) -> usize {
        if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        }
    }

    fn name(&self, ty: &str) -> String {
        let mut s = format!(
            "{ty}(input {}, hidden {}",
            self.input_size, self.hidden_size
        );
        if self.num_layers != 1 {
            s.push_str(&format!(", layers {}", self.num_layers));
        }
        if self.proj_size > 0 {
            s.push_str(&format!(", proj {}", self.proj_size));
        }
        if self.bidirectional {
            s.push_str(", bidirectional");
        }
        if self.batch_first {
            s.push_str(", batch_first");
        }
        if self.weights[0].bias_ih.is_none() {
            s.push_str(", no bias");
        }
        if self.mode == Mode::Rnn(RnnNonlinearity::Relu) {
            s.push_str(", relu");
        }
        if self.dropout > 0.0 {
            s.push_str(&format!(", dropout {}", self.dropout));
        }
        s.push(')');
        s
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        for (i, w) in self.weights.iter().enumerate() {
            w.visit(prefix, &self.suffix(i), f);
        }
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        let suffixes: Vec<String> = (0..self.weights.len()).map(|i| self.suffix(i)).collect();
        for (w, s) in self.weights.iter_mut().zip(&suffixes) {
            w.visit_mut(prefix, s, f);
        }
    }

    /// `_l{k}` or `_l{k}_reverse` for the weights at `i`.
    fn suffix(&self, i: usize) -> String {
        let d = self.dirs();
        let rev = if i % d == 1 { "_reverse" } else { "" };
        format!("_l{}{rev}", i / d)
    }

    /// Whether dropout between layers draws masks.
    fn draws(&self) -> bool {
        self.dropout > 0.0 && self.num_layers > 1
    }

    fn run(
        &self,
        name: impl Fn() -> String,
        x: &Tensor,
        h0: Option<&Tensor>,
        c0: Option<&Tensor>,
        lengths: Option<&[usize]>,
    ) -> Result<Run> {
        let hin = self.input_size;
        let batched = match x.rank() {
            3 => true,
            2 => false,
            _ => {
                let layout = if self.batch_first {
                    "[N, L, H_in]"
                } else {
                    "[L, N, H_in]"
                };
                return Err(module_err(
                    name(),
                    format!(
                        "input must be {layout} or unbatched [L, H_in] with H_in = {hin}, got shape {}",
                        x.shape()
                    ),
                ));
            }
        };
        let features = x.dims()[x.rank() - 1];
        if features != hin {
            return Err(module_err(
                name(),
                format!(
                    "input has {features} features (shape {}), expected {hin}",
                    x.shape()
                ),
            ));
        }
        check_dtypes(&name, x, [h0, c0], &self.weights[0].weight_ih)?;
        // [L, N, H_in]
        let xs = if !batched {
            x.unsqueeze(1)?
        } else if self.batch_first {
            x.transpose(0, 1)?
        } else {
            x.clone()
        };
        let (len, n) = (xs.dims()[0], xs.dims()[1]);
        let (d, hout, hid) = (self.dirs(), self.hidden_out(), self.hidden_size);
        let states = self.num_layers * d;
        let state = |s: Option<&Tensor>, what: &str, width: usize| -> Result<Option<Tensor>> {
            let Some(s) = s else { return Ok(None) };
            let want: Vec<usize> = if batched {
                vec![states, n, width]
            } else {
                vec![states, width]
            };
            if s.dims() != want.as_slice() {
                return Err(module_err(
                    name(),
                    format!(
                        "{what} has shape {}, expected {want:?} for input of shape {}",
                        s.shape(),
                        x.shape()
                    ),
                ));
            }
            Ok(Some(if batched { s.clone() } else { s.unsqueeze(1)? }))
        };
        let h0 = state(h0, "h0", hout)?;
        let c0 = state(c0, "c0", hid)?;
        let masks = match lengths {
            None => None,
            Some(lengths) => self.masks(&name, x, lengths, len, n)?,
        };
        let zeros = |w: usize| Tensor::zeros([n, w], x.dtype(), x.device());
        let mut hs = Vec::with_capacity(states);
        let mut cs = Vec::with_capacity(states);
        let mut inp = xs;
        for k in 0..self.num_layers {
            let mut outs = Vec::with_capacity(d);
            for dir in 0..d {
                let i = k * d + dir;
                let w = &self.weights[i];
                let xp = w.input_proj(self.mode, &inp)?;
                let mut h = match &h0 {
                    Some(h0) => h0.select(0, i)?,
                    None => zeros(hout)?,
                };
                let mut c = match (self.mode, &c0) {
                    (Mode::Lstm, Some(c0)) => Some(c0.select(0, i)?),
                    (Mode::Lstm, None) => Some(zeros(hid)?),
                    _ => None,
                };
                if masks.is_none() && w.weight_hr.is_none() && len > 0 {
                    // The whole recurrence as one recorded op; the reverse direction runs it
                    // on the time-reversed projections.
                    let xp = if dir == 0 { xp } else { xp.flip(0)? };
                    let (seq, width) = match (self.mode, &c) {
                        (Mode::Lstm, Some(c0)) => {
                            (lstm_sequence(&xp, &w.weight_hh, &h, c0)?, 2 * hid)
                        }
                        (Mode::Lstm, None) => unreachable!("an LSTM carries a cell state"),
                        (Mode::Gru, _) => (
                            gru_sequence(&xp, &w.weight_hh, w.bias_hh.as_ref(), &h)?,
                            hid,
                        ),
                        (Mode::Rnn(act), _) => {
                            let relu = act == RnnNonlinearity::Relu;
                            (rnn_sequence(&xp, &w.weight_hh, &h, relu)?, hid)
                        }
                    };
                    let last = seq.select(0, len - 1)?;
                    let out = if width == hid {
                        seq
                    } else {
                        seq.narrow(2, 0, hid)?
                    };
                    outs.push(if dir == 0 { out } else { out.flip(0)? });
                    hs.push(last.narrow(1, 0, hid)?);
                    if width > hid {
                        cs.push(last.narrow(1, hid, hid)?);
                    }
                    continue;
                }
                let mut out: Vec<Option<Tensor>> = vec![None; len];
                let order: Box<dyn Iterator<Item = usize>> = if dir == 0 {
                    Box::new(0..len)
                } else {
                    Box::new((0..len).rev())
                };
                for t in order {
                    let (h2, c2) = w.step(self.mode, &xp.select(0, t)?, &h, c.as_ref())?;
                    match &masks {
                        Some((keep, hold)) => {
                            // Past a sequence's end the state is held and the output is 0.
                            let (m, r) = (&keep[t], &hold[t]);
                            out[t] = Some((&h2 * m)?);
                            h = ((&h2 * m)? + (&h * r)?)?;
                            if let (Some(c2), Some(c1)) = (c2, &c) {
                                c = Some(((&c2 * m)? + (c1 * r)?)?);
                            }
                        }
                        None => {
                            out[t] = Some(h2.clone());
                            h = h2;
                            c = c2;
                        }
                    }
                }
                let out: Vec<Tensor> = out.into_iter().map(|o| o.expect("every step")).collect();
                let refs: Vec<&Tensor> = out.iter().collect();
                outs.push(Tensor::stack(&refs, 0)?);
                hs.push(h);
                cs.extend(c);
            }
            inp = if d == 1 {
                outs.pop().expect("one direction")
            } else {
                Tensor::cat(&[&outs[0], &outs[1]], -1)?
            };
            if k + 1 < self.num_layers && self.training && self.dropout > 0.0 {
                let step = self.step.fetch_add(1, Ordering::Relaxed);
                inp = dropout(&inp, self.dropout, rng::draw(self.seed, step), true)?;
            }
        }
        let stack = |v: &[Tensor]| -> Result<Tensor> {
            let refs: Vec<&Tensor> = v.iter().collect();
            let s = Tensor::stack(&refs, 0)?;
            if batched {
                Ok(s)
            } else {
                s.squeeze(1)
            }
        };
        let h_n = stack(&hs)?;
        let c_n = if cs.is_empty() {
            None
        } else {
            Some(stack(&cs)?)
        };
        let out = if !batched {
            inp.squeeze(1)?
        } else if self.batch_first {
            inp.transpose(0, 1)?
        } else {
            inp
        };
        Ok((out, h_n, c_n))
    }

    /// Per step, the masks `[N, 1]` of the sequences still running (`keep`) and of those
    /// past their end (`hold`), or `None` when every sequence spans the input.
    #[allow(clippy::type_complexity)]
    fn masks(
        &self,
        name: impl Fn() -> String,
        x: &Tensor,
        lengths: &[usize],
        len: usize,
        n: usize,
    ) -> Result<Option<(Vec<Tensor>, Vec<Tensor>)>> {
        if lengths.len() != n {
            return Err(module_err(
                name(),
                format!(
                    "{} lengths for a batch of {n} sequences (input shape {})",
                    lengths.len(),
                    x.shape()
                ),
            ));
        }
        if let Some((i, &l)) = lengths.iter().enumerate().find(|(_, &l)| l > len) {
            return Err(module_err(
                name(),
                format!(
                    "sequence {i} has length {l}, longer than the input's {len} steps (input shape {})",
                    x.shape()
                ),
            ));
        }
        if lengths.iter().all(|&l| l == len) {
            return Ok(None);
        }
        let mut keep = Vec::with_capacity(len);
        let mut hold = Vec::with_capacity(len);
        for t in 0..len {
            let m: Vec<f64> = lengths
                .iter()
                .map(|&l| if t < l { 1.0 } else { 0.0 })
                .collect();
            let r: Vec<f64> = m.iter().map(|v| 1.0 - v).collect();
            keep.push(Tensor::from_vec(m, [n, 1], x.device())?.to_dtype(x.dtype())?);
            hold.push(Tensor::from_vec(r, [n, 1], x.device())?.to_dtype(x.dtype())?);
        }
        Ok(Some((keep, hold)))
    }
}

macro_rules! layer_type {
    ($(#[$doc:meta])* $ty:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $ty {
            stack: Stack,
        }

        impl $ty {
            /// Options of a layer, starting from PyTorch's defaults (see [`LayerBuilder`]).
            pub fn builder(input_size: usize, hidden_size: usize) -> LayerBuilder<$ty> {
                LayerBuilder {
                    input_size,
                    hidden_size,
                    num_layers: 1,
                    bias: true,
                    batch_first: false,
                    dropout: 0.0,
                    bidirectional: false,
                    proj_size: 0,
                    nonlinearity: RnnNonlinearity::Tanh,
                    dtype: DType::F32,
                    seed: None,
                    kind: PhantomData,
                }
            }

            /// A one-layer, unidirectional layer with PyTorch's defaults, its seed from
            /// the global stream.
            pub fn new(input_size: usize, hidden_size: usize, device: &Device) -> Result<$ty> {
                $ty::builder(input_size, hidden_size).build(device)
            }

            pub fn input_size(&self) -> usize {
                self.stack.input_size
            }

            pub fn hidden_size(&self) -> usize {
                self.stack.hidden_size
            }

            pub fn num_layers(&self) -> usize {
                self.stack.num_layers
            }

            pub fn is_bidirectional(&self) -> bool {
                self.stack.bidirectional
            }

            pub fn is_batch_first(&self) -> bool {
                self.stack.batch_first
            }

            pub fn is_training(&self) -> bool {
                self.stack.training
            }
        }

        impl Module for $ty {
            /// The output sequence, from zero initial states.
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                Ok(self.stack.run(|| self.name(), x, None, None, None)?.0)
            }

            fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
                self.stack.visit(prefix, f);
            }

            fn visit_mut<'a>(
                &'a mut self,
                prefix: &str,
                f: &mut dyn FnMut(String, &'a mut Tensor),
            ) {
                self.stack.visit_mut(prefix, f);
            }

            fn set_training(&mut self, on: bool) {
                self.stack.training = on;
            }

            fn training_mode(&self) -> Option<bool> {
                self.stack.draws().then_some(self.stack.training)
            }

            /// `Lstm(input 3, hidden 4, layers 2, bidirectional)`: the sizes and the
            /// options that differ from PyTorch's defaults.
            fn name(&self) -> String {
                self.stack.name($label)
            }

            /// The position `step` of the stream of dropout masks between layers (when
            /// there is dropout).
            fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
                if self.stack.draws() {
                    f(prefixed(prefix, "step"), self.stack.step.load(Ordering::Relaxed));
                }
            }

            fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
                if self.stack.draws() {
                    f(prefixed(prefix, "step"), self.stack.step.get_mut());
                }
            }
        }
    };
}

layer_type!(
    /// A multi-layer Elman RNN (PyTorch `nn.RNN`): per layer and direction,
    /// `h_t = act(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh)`, `act` tanh or relu.
    ///
    /// ```
    /// use lamina_nn::{Module, Rnn};
    /// use lamina_tensor::{DType, Tensor};
    /// let dev = lamina_backend_cpu::device();
    /// let rnn = Rnn::builder(3, 5).num_layers(2).bidirectional(true).seed(1).build(&dev)?;
    /// let x = Tensor::ones([7, 2, 3], DType::F32, &dev)?;     // [L, N, H_in]
    /// let (out, h_n) = rnn.forward_with(&x, None)?;
    /// assert_eq!((out.dims(), h_n.dims()), (&[7, 2, 10][..], &[4, 2, 5][..]));
    /// // Sequences of lengths 7 and 4: the second's outputs from step 4 on are zero.
    /// let (out, _) = rnn.forward_lengths(&x, &[7, 4], None)?;
    /// assert!(out.narrow(0, 4, 3)?.select(1, 1)?.to_vec::<f32>()?.iter().all(|&v| v == 0.0));
    /// let names: Vec<String> = rnn.named_parameters().into_iter().map(|(n, _)| n).collect();
    /// assert_eq!(&names[..5], ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse"]);
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    Rnn,
    "Rnn"
);

layer_type!(
    /// A multi-layer long short-term memory (PyTorch `nn.LSTM`), gates `i, f, g, o`,
    /// with PyTorch's optional projection of the hidden state (`proj_size`,
    /// `weight_hr_l{k}`).
    ///
    /// ```
    /// use lamina_nn::Lstm;
    /// use lamina_tensor::{DType, Tensor};
    /// let dev = lamina_backend_cpu::device();
    /// let lstm = Lstm::builder(3, 5).batch_first(true).seed(1).build(&dev)?;
    /// let x = Tensor::ones([2, 7, 3], DType::F32, &dev)?;     // [N, L, H_in]
    /// let (out, (h_n, c_n)) = lstm.forward_with(&x, None)?;
    /// assert_eq!(out.dims(), &[2, 7, 5]);
    /// let (_, (h_n, _)) = lstm.forward_with(&x, Some((&h_n, &c_n)))?;   // go on from there
    /// assert_eq!(h_n.dims(), &[1, 2, 5]);
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    Lstm,
    "Lstm"
);

layer_type!(
    /// A multi-layer gated recurrent unit (PyTorch `nn.GRU`), gates `r, z, n`:
    /// `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`, `h' = (1 − z) ⊙ n + z ⊙ h`.
    ///
    /// ```
    /// use lamina_nn::Gru;
    /// use lamina_tensor::{DType, Tensor};
    /// let dev = lamina_backend_cpu::device();
    /// let gru = Gru::builder(3, 5).seed(1).build(&dev)?;
    /// let (out, h_n) = gru.forward_with(&Tensor::ones([7, 3], DType::F32, &dev)?, None)?; // unbatched
    /// assert_eq!((out.dims(), h_n.dims()), (&[7, 5][..], &[1, 5][..]));
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    Gru,
    "Gru"
);

impl Rnn {
    /// The output and the final state `h_n` from the input and the initial state `h0`
    /// (zeros when `None`).
    pub fn forward_with(&self, x: &Tensor, h0: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let (out, h, _) = self.stack.run(|| self.name(), x, h0, None, None)?;
        Ok((out, h))
    }

    /// Like [`forward_with`](Rnn::forward_with) on sequences of the given lengths, one
    /// per batch entry, in any order, each at most the input's length: outputs past a
    /// sequence's end are zero and its `h_n` is the state at its last step (PyTorch's
    /// packed sequences, unpacked to the input's length). A length of 0, which PyTorch
    /// rejects, gives zero outputs and `h_n = h0`.
    pub fn forward_lengths(
        &self,
        x: &Tensor,
        lengths: &[usize],
        h0: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let (out, h, _) = self.stack.run(|| self.name(), x, h0, None, Some(lengths))?;
        Ok((out, h))
    }
}

impl Gru {
    /// The output and the final state `h_n` from the input and the initial state `h0`
    /// (zeros when `None`).
    pub fn forward_with(&self, x: &Tensor, h0: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let (out, h, _) = self.stack.run(|| self.name(), x, h0, None, None)?;
        Ok((out, h))
    }

    /// Like [`forward_with`](Gru::forward_with) on sequences of the given lengths (see
    /// [`Rnn::forward_lengths`]).
    pub fn forward_lengths(
        &self,
        x: &Tensor,
        lengths: &[usize],
        h0: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let (out, h, _) = self.stack.run(|| self.name(), x, h0, None, Some(lengths))?;
        Ok((out, h))
    }
}

impl Lstm {
    /// The output and the final states `(h_n, c_n)` from the input and the initial
    /// states `(h0, c0)` (zeros when `None`).
    pub fn forward_with(
        &self,
        x: &Tensor,
        state: Option<(&Tensor, &Tensor)>,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        let (h0, c0) = state.unzip();
        let (out, h, c) = self.stack.run(|| self.name(), x, h0, c0, None)?;
        Ok((out, (h, c.expect("an LSTM has a cell state"))))
    }

    /// Like [`forward_with`](Lstm::forward_with) on sequences of the given lengths (see
    /// [`Rnn::forward_lengths`]).
    pub fn forward_lengths(
        &self,
        x: &Tensor,
        lengths: &[usize],
        state: Option<(&Tensor, &Tensor)>,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        let (h0, c0) = state.unzip();
        let (out, h, c) = self.stack.run(|| self.name(), x, h0, c0, Some(lengths))?;
        Ok((out, (h, c.expect("an LSTM has a cell state"))))
    }

    /// The size of the projected hidden state (`0`: no projection).
    pub fn proj_size(&self) -> usize {
        self.stack.proj_size
    }
}

/// Options of a layer ([`Rnn`], [`Lstm`], [`Gru`]); `X::builder(in, hidden)` starts from
/// PyTorch's defaults (one layer, bias, sequence-first, no dropout, one direction, tanh,
/// f32, every parameter `U(±1/√hidden)`, a seed from the global stream).
///
/// ```
/// use lamina_nn::{Lstm, Module};
/// use lamina_tensor::DType;
/// let dev = lamina_backend_cpu::device();
/// let lstm = Lstm::builder(8, 16)
///     .num_layers(2)
///     .bidirectional(true)
///     .proj_size(4)
///     .dropout(0.1)
///     .dtype(DType::F64)
///     .seed(3)
///     .build(&dev)?;
/// assert_eq!(lstm.name(), "Lstm(input 8, hidden 16, layers 2, proj 4, bidirectional, dropout 0.1)");
/// let shapes: Vec<_> = lstm.named_parameters().into_iter().take(5).map(|(_, t)| t.dims().to_vec()).collect();
/// assert_eq!(shapes, [vec![64, 8], vec![64, 4], vec![64], vec![64], vec![4, 16]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build`"]
pub struct LayerBuilder<T> {
    input_size: usize,
    hidden_size: usize,
    num_layers: usize,
    bias: bool,
    batch_first: bool,
    dropout: f64,
    bidirectional: bool,
    proj_size: usize,
    nonlinearity: RnnNonlinearity,
    dtype: DType,
    seed: Option<u64>,
    kind: PhantomData<T>,
}

impl<T> LayerBuilder<T> {
    /// Stacked layers, each reading the previous one's output (default 1).
    pub fn num_layers(mut self, num_layers: usize) -> Self {
        self.num_layers = num_layers;
        self
    }

    /// Whether the layers have the biases `bias_ih` and `bias_hh` (default true).
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Input and output `[N, L, H]` instead of `[L, N, H]` (default false); the states
    /// stay `[layers · D, N, H]`.
    pub fn batch_first(mut self, batch_first: bool) -> Self {
        self.batch_first = batch_first;
        self
    }

    /// Dropout with this probability on each layer's output but the last, in training
    /// mode (default 0).
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// A second pass over each sequence from its end, its output concatenated to the
    /// first's (default false).
    pub fn bidirectional(mut self, bidirectional: bool) -> Self {
        self.bidirectional = bidirectional;
        self
    }

    /// Parameter dtype (default f32).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Draws the parameters and the dropout masks from seeds derived from `seed` instead
    /// of a seed taken from the global stream.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    fn stack(&self, mode: Mode, label: &str, device: &Device) -> Result<Stack> {
        let invalid = |msg: String| Error::Invalid { op: "rnn", msg };
        if self.num_layers == 0 {
            return Err(invalid(format!("{label}: num_layers must be at least 1")));
        }
        if !(0.0..=1.0).contains(&self.dropout) {
            return Err(invalid(format!(
                "{label}: dropout must be in [0, 1], got {}",
                self.dropout
            )));
        }
        if self.proj_size > 0 && self.proj_size >= self.hidden_size {
            return Err(invalid(format!(
                "{label}: proj_size {} must be smaller than hidden_size {}",
                self.proj_size, self.hidden_size
            )));
        }
        let seed = self.seed.unwrap_or_else(next_seed);
        let d = if self.bidirectional { 2 } else { 1 };
        let hout = if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        };
        let mut weights = Vec::with_capacity(self.num_layers * d);
        for k in 0..self.num_layers {
            for _ in 0..d {
                let spec = WeightSpec {
                    mode,
                    input: if k == 0 { self.input_size } else { hout * d },
                    hidden: self.hidden_size,
                    proj: self.proj_size,
                    bias: self.bias,
                    dtype: self.dtype,
                };
                let i = weights.len() as u64;
                weights.push(spec.build(derive_seed(seed, i), device)?);
            }
        }
        Ok(Stack {
            mode,
            input_size: self.input_size,
            hidden_size: self.hidden_size,
            proj_size: self.proj_size,
            num_layers: self.num_layers,
            batch_first: self.batch_first,
            bidirectional: self.bidirectional,
            dropout: self.dropout,
            weights,
            seed: derive_seed(seed, u64::MAX),
            step: AtomicU64::new(0),
            training: true,
        })
    }
}

impl LayerBuilder<Rnn> {
    /// Tanh (the default) or relu.
    pub fn nonlinearity(mut self, nonlinearity: RnnNonlinearity) -> Self {
        self.nonlinearity = nonlinearity;
        self
    }

    /// Builds the layer on `device`; an error for no layers or a dropout probability
    /// outside `[0, 1]`.
    pub fn build(&self, device: &Device) -> Result<Rnn> {
        Ok(Rnn {
            stack: self.stack(Mode::Rnn(self.nonlinearity), "Rnn", device)?,
        })
    }
}

impl LayerBuilder<Lstm> {
    /// Projects each hidden state to this size with `weight_hr_l{k} [proj, H]` (default
    /// 0: none); `h` and the output have this size, `c` keeps `hidden_size`.
    pub fn proj_size(mut self, proj_size: usize) -> Self {
        self.proj_size = proj_size;
        self
    }

    /// Builds the layer on `device`; an error for no layers, a dropout probability
    /// outside `[0, 1]` or a projection not smaller than the hidden size.
    pub fn build(&self, device: &Device) -> Result<Lstm> {
        Ok(Lstm {
            stack: self.stack(Mode::Lstm, "Lstm", device)?,
        })
    }
}

impl LayerBuilder<Gru> {
    /// Builds the layer on `device`; an error for no layers or a dropout probability
    /// outside `[0, 1]`.
    pub fn build(&self, device: &Device) -> Result<Gru> {
        Ok(Gru {
            stack: self.stack(Mode::Gru, "Gru", device)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        lamina_backend_cpu::device()
    }

    fn names(m: &dyn Module) -> Vec<String> {
        m.named_parameters().into_iter().map(|(n, _)| n).collect()
    }

    fn input(shape: &[usize]) -> Tensor {
        Tensor::randn(9, shape, DType::F64, &dev()).unwrap()
    }

    #[test]
    fn parameters_are_named_and_shaped_like_pytorch() {
        let lstm = Lstm::builder(3, 6)
            .num_layers(2)
            .bidirectional(true)
            .proj_size(2)
            .seed(0)
            .build(&dev())
            .unwrap();
        let mut got = Vec::new();
        lstm.visit("enc", &mut |n, t| got.push((n, t.dims().to_vec())));
        let mut want = Vec::new();
        for (k, input) in [(0, 3), (1, 4)] {
            for rev in ["", "_reverse"] {
                let s = format!("_l{k}{rev}");
                want.push((format!("enc.weight_ih{s}"), vec![24, input]));
                want.push((format!("enc.weight_hh{s}"), vec![24, 2]));
                want.push((format!("enc.bias_ih{s}"), vec![24]));
                want.push((format!("enc.bias_hh{s}"), vec![24]));
                want.push((format!("enc.weight_hr{s}"), vec![2, 6]));
            }
        }
        assert_eq!(got, want);

        let gru = Gru::builder(3, 5)
            .bias(false)
            .seed(0)
            .build(&dev())
            .unwrap();
        assert_eq!(names(&gru), ["weight_ih_l0", "weight_hh_l0"]);
        assert_eq!(gru.num_parameters(), 15 * 3 + 15 * 5);
        let cell = RnnCell::builder(3, 5).seed(0).build(&dev()).unwrap();
        assert_eq!(
            names(&cell),
            ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        );
    }

    #[test]
    fn init_is_pytorchs_bound_and_reproducible() {
        let build = |seed| {
            Gru::builder(7, 16)
                .num_layers(2)
                .bidirectional(true)
                .seed(seed)
                .build(&dev())
                .unwrap()
        };
        let (a, b, c) = (build(4), build(4), build(5));
        let bound = 1.0 / 4.0;
        let mut seen = Vec::new();
        for ((name, p), (_, q)) in a.named_parameters().into_iter().zip(b.named_parameters()) {
            let v = p.to_f64_vec().unwrap();
            assert!(v.iter().all(|x| x.abs() <= bound + 1e-7), "{name}");
            assert!(v.iter().any(|x| x.abs() > 0.8 * bound), "{name}");
            assert_eq!(v, q.to_f64_vec().unwrap(), "{name}: same seed");
            seen.push(v[0]);
        }
        // Every parameter draws from its own stream.
        let mut dedup = seen.clone();
        dedup.sort_by(f64::total_cmp);
        dedup.dedup();
        assert_eq!(dedup.len(), seen.len());
        assert_ne!(
            a.named_parameters()[0].1.to_f64_vec().unwrap(),
            c.named_parameters()[0].1.to_f64_vec().unwrap()
        );
    }

    #[test]
    fn names_say_the_options() {
        let rnn = Rnn::builder(3, 4)
            .nonlinearity(RnnNonlinearity::Relu)
            .batch_first(true)
            .bias(false)
            .build(&dev())
            .unwrap();
        assert_eq!(
            rnn.name(),
            "Rnn(input 3, hidden 4, batch_first, no bias, relu)"
        );
        assert_eq!(
            Gru::new(3, 4, &dev()).unwrap().name(),
            "Gru(input 3, hidden 4)"
        );
        assert_eq!(
            LstmCell::new(3, 4, &dev()).unwrap().name(),
            "LstmCell(input 3, hidden 4)"
        );
    }

    #[test]
    fn an_empty_sequence_keeps_its_initial_state() {
        let gru = Gru::builder(3, 4)
            .bidirectional(true)
            .dtype(DType::F64)
            .seed(0)
            .build(&dev())
            .unwrap();
        let h0 = input(&[2, 2, 4]);
        let (out, h) = gru
            .forward_lengths(&input(&[5, 2, 3]), &[5, 0], Some(&h0))
            .unwrap();
        let first = |t: &Tensor| t.select(1, 1).unwrap().to_f64_vec().unwrap();
        assert!(first(&out).iter().all(|&v| v == 0.0));
        assert_eq!(first(&h), first(&h0));
    }

    #[test]
    fn inputs_of_another_dtype_are_errors() {
        let gru = Gru::builder(3, 4).seed(0).build(&dev()).unwrap();
        assert_eq!(
            gru.forward(&input(&[5, 2, 3])).unwrap_err().to_string(),
            "Gru(input 3, hidden 4): input has dtype f64 (shape [5, 2, 3]), the parameters f32"
        );
        let cell = LstmCell::builder(3, 4).seed(0).build(&dev()).unwrap();
        let x = Tensor::zeros([2, 3], DType::F32, &dev()).unwrap();
        let h = Tensor::zeros([2, 4], DType::F32, &dev()).unwrap();
        assert_eq!(
            cell.forward_with(&x, Some((&h, &input(&[2, 4]))))
                .unwrap_err()
                .to_string(),
            "LstmCell(input 3, hidden 4): c has dtype f64 (shape [2, 4]), the parameters f32"
        );
    }

    #[test]
    fn builder_rejects_bad_options() {
        assert!(Lstm::builder(3, 4).num_layers(0).build(&dev()).is_err());
        assert!(Gru::builder(3, 4).dropout(1.5).build(&dev()).is_err());
        let e = Lstm::builder(3, 4).proj_size(4).build(&dev()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "rnn: Lstm: proj_size 4 must be smaller than hidden_size 4"
        );
    }

    #[test]
    fn forward_is_forward_with_zero_states_and_full_lengths_change_nothing() {
        let lstm = Lstm::builder(3, 4)
            .num_layers(2)
            .bidirectional(true)
            .dtype(DType::F64)
            .seed(1)
            .build(&dev())
            .unwrap();
        let x = input(&[5, 2, 3]);
        let (out, (h, c)) = lstm.forward_with(&x, None).unwrap();
        assert_eq!(
            lstm.forward(&x).unwrap().to_f64_vec().unwrap(),
            out.to_f64_vec().unwrap()
        );
        let (out2, (h2, c2)) = lstm.forward_lengths(&x, &[5, 5], None).unwrap();
        for (a, b) in [(&out, &out2), (&h, &h2), (&c, &c2)] {
            assert_eq!(a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
        }
        // A sequence of length 3 padded to 5 ends where the same sequence cut to 3 ends.
        let (out3, (h3, _)) = lstm.forward_lengths(&x, &[3, 5], None).unwrap();
        let cut = x.narrow(0, 0, 3).unwrap().narrow(1, 0, 1).unwrap();
        let (outc, (hc, _)) = lstm.forward_with(&cut, None).unwrap();
        let close = |a: &Tensor, b: &Tensor| {
            let (a, b) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
            assert_eq!(a.len(), b.len());
            assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-12));
        };
        close(&h3.narrow(1, 0, 1).unwrap(), &hc);
        close(
            &out3.narrow(0, 0, 3).unwrap().narrow(1, 0, 1).unwrap(),
            &outc,
        );
        assert!(out3
            .narrow(0, 3, 2)
            .unwrap()
            .select(1, 0)
            .unwrap()
            .to_f64_vec()
            .unwrap()
            .iter()
            .all(|&v| v == 0.0));
    }

    #[test]
    fn dropout_between_layers_is_seeded_and_only_in_training() {
        let build = |p: f64| {
            Rnn::builder(3, 8)
                .num_layers(3)
                .dropout(p)
                .dtype(DType::F64)
                .seed(2)
                .build(&dev())
                .unwrap()
        };
        let x = input(&[4, 2, 3]);
        let (mut a, b, plain) = (build(0.5), build(0.5), build(0.0));
        let base = plain.forward(&x).unwrap().to_f64_vec().unwrap();
        assert_eq!(a.training_mode(), Some(true));
        assert_eq!(plain.training_mode(), None);
        let ya = a.forward(&x).unwrap().to_f64_vec().unwrap();
        assert_ne!(ya, base);
        assert_eq!(ya, b.forward(&x).unwrap().to_f64_vec().unwrap());
        // Two masks per forward (between three layers); the next call draws new ones.
        assert_eq!(a.rng_state().get("step"), Some(&2));
        assert!(plain.rng_state().is_empty());
        assert_ne!(a.forward(&x).unwrap().to_f64_vec().unwrap(), ya);
        a.eval();
        assert_eq!(a.forward(&x).unwrap().to_f64_vec().unwrap(), base);
        assert_eq!(a.rng_state().get("step"), Some(&4));
    }
}
