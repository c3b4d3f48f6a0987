//! Dynamic int8 quantisation of an LSTM (PyTorch's `quantize_dynamic` on `nn.LSTM`): the
//! input and recurrent weights of every layer in i8 (symmetric per gate row), each step's
//! input and hidden state quantised to u8 by their own range, the products on the int8
//! GEMM; gates, cell and hidden states stay f32 (`i, f, g, o` in PyTorch's order:
//! `c = σ(f) c + σ(i) tanh(g)`, `h = σ(o) tanh(c)`). One direction, no projection.

use lamina_nn::{Lstm, Module};
use lamina_tensor::{Error, Result, Tensor};

use super::layers::{QLinear, QWeight};

/// One layer: `gates = W_ih x + b_ih + W_hh h + b_hh`.
#[derive(Clone, Debug)]
struct Layer {
    ih: QLinear,
    hh: QLinear,
}

/// An LSTM with int8 weights for CPU inference.
#[derive(Clone, Debug)]
pub struct QLstm {
    layers: Vec<Layer>,
    hidden: usize,
    batch_first: bool,
}

fn host(t: &Tensor) -> Result<Vec<f32>> {
    t.to_dtype(lamina_tensor::DType::F32)?.to_vec::<f32>()
}

impl QLstm {
    /// The int8 form of a trained `lstm` (an error for a bidirectional or projected one).
    pub fn from_lstm(lstm: &Lstm) -> Result<QLstm> {
        if lstm.is_bidirectional() || lstm.proj_size() > 0 {
            return Err(Error::Invalid {
                op: "QLstm",
                msg: format!(
                    "{}: only one direction without projection is supported",
                    lstm.name()
                ),
            });
        }
        let params: std::collections::HashMap<String, Tensor> =
            lstm.named_parameters().into_iter().collect();
        let get =
            |name: String| -> Result<Option<Vec<f32>>> { params.get(&name).map(host).transpose() };
        let h = lstm.hidden_size();
        let mut layers = Vec::new();
        for k in 0..lstm.num_layers() {
            let k_in = if k == 0 { lstm.input_size() } else { h };
            let missing = |n: &str| Error::Invalid {
                op: "QLstm",
                msg: format!("no parameter `{n}`"),
            };
            let w_ih = get(format!("weight_ih_l{k}"))?.ok_or_else(|| missing("weight_ih"))?;
            let w_hh = get(format!("weight_hh_l{k}"))?.ok_or_else(|| missing("weight_hh"))?;
            let linear = |w: &[f32], kk: usize, b: Option<Vec<f32>>| QLinear {
                weight: QWeight::quantize(w, 4 * h, kk),
                bias: b,
                input: None,
                relu: false,
            };
            layers.push(Layer {
                ih: linear(&w_ih, k_in, get(format!("bias_ih_l{k}"))?),
                hh: linear(&w_hh, h, get(format!("bias_hh_l{k}"))?),
            });
        }
        Ok(QLstm {
            layers,
            hidden: h,
            batch_first: lstm.is_batch_first(),
        })
    }

    /// The output sequence (`[L, N, H]`, or `[N, L, H]` batch-first) and the final
    /// `(h_n, c_n)` (`[layers, N, H]`), from zero initial states.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, (Tensor, Tensor))> {
        let dims = x.dims().to_vec();
        if dims.len() != 3 {
            return Err(Error::Invalid {
                op: "QLstm",
                msg: format!("input {} is not [L, N, H_in]", x.shape()),
            });
        }
        let mut seq = if self.batch_first {
            x.transpose(0, 1)?.contiguous()?
        } else {
            x.clone()
        };
        let (len, n, h) = (seq.dims()[0], seq.dims()[1], self.hidden);
        let dev = *x.device();
        let (mut hs, mut cs) = (Vec::new(), Vec::new());
        for layer in &self.layers {
            let xp = layer.ih.forward(&seq)?; // [L, N, 4H], all steps at once
            let xp = host(&xp)?;
            let mut hv = vec![0f32; n * h];
            let mut cv = vec![0f32; n * h];
            let mut out = Vec::with_capacity(len * n * h);
            for t in 0..len {
                let rec = host(
                    &layer
                        .hh
                        .forward(&Tensor::from_vec(hv.clone(), [n, h], &dev)?)?,
                )?;
                for r in 0..n {
                    let g = |gate: usize, j: usize| {
                        let at = r * 4 * h + gate * h + j;
                        xp[t * n * 4 * h + at] + rec[at]
                    };
                    for j in 0..h {
                        let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
                        let (i, f, gg, o) =
                            (sig(g(0, j)), sig(g(1, j)), g(2, j).tanh(), sig(g(3, j)));
                        let c = f * cv[r * h + j] + i * gg;
                        cv[r * h + j] = c;
                        hv[r * h + j] = o * c.tanh();
                    }
                }
                out.extend_from_slice(&hv);
            }
            seq = Tensor::from_vec(out, [len, n, h], &dev)?;
            hs.extend_from_slice(&hv);
            cs.extend_from_slice(&cv);
        }
        let k = self.layers.len();
        let out = if self.batch_first {
            seq.transpose(0, 1)?.contiguous()?
        } else {
            seq
        };
        Ok((
            out,
            (
                Tensor::from_vec(hs, [k, n, h], &dev)?,
                Tensor::from_vec(cs, [k, n, h], &dev)?,
            ),
        ))
    }
}
