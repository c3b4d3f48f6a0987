//! The shared strided fallback: walks N input layouts over one logical shape in row-major
//! order, in runs of the innermost (jointly merged) dimension, writing a contiguous
//! output. Every element-wise kernel is a run function plugged into this walker; large
//! outputs are split across threads through `par`, each chunk starting its walk at an
//! arbitrary linear index.

use lamina_tensor::{DimVec, Layout};

use crate::par;

/// Dims and per-layout strides after dropping size-1 dims and fusing neighbours that are
/// dense in each other for *every* layout (so a contiguous add of two `[64, 128]` tensors
/// is one run of 8192).
pub struct Walk<const N: usize> {
    dims: DimVec,
    strides: [DimVec; N],
    offsets: [usize; N],
    len: usize,
}

impl<const N: usize> Walk<N> {
    /// All layouts must have the same shape.
    pub fn new(layouts: [&Layout; N]) -> Self {
        let shape = layouts[0].dims();
        debug_assert!(layouts.iter().all(|l| l.dims() == shape));
        let mut dims = DimVec::new();
        let mut strides: [DimVec; N] = std::array::from_fn(|_| DimVec::new());
        for (i, &d) in shape.iter().enumerate() {
            if d == 1 {
                continue;
            }
            let mergeable = !dims.is_empty()
                && (0..N).all(|k| {
                    strides[k]
                        .last()
                        .is_some_and(|&ls| ls == layouts[k].strides()[i] * d)
                });
            if mergeable {
                if let Some(ld) = dims.last_mut() {
                    *ld *= d;
                }
                for (k, s) in strides.iter_mut().enumerate() {
                    if let Some(ls) = s.last_mut() {
                        *ls = layouts[k].strides()[i];
                    }
                }
            } else {
                dims.push(d);
                for (k, s) in strides.iter_mut().enumerate() {
                    s.push(layouts[k].strides()[i]);
                }
            }
        }
        Walk {
            len: layouts[0].elem_count(),
            dims,
            strides,
            offsets: std::array::from_fn(|k| layouts[k].offset()),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Every layout's innermost run is dense (stride 1) and there is only one run.
    #[cfg(test)]
    pub fn all_contiguous(&self) -> bool {
        self.dims.len() <= 1 && (0..N).all(|k| self.strides[k].first().is_none_or(|&s| s == 1))
    }

    /// Calls `f(out_pos, offsets, inner_strides, run_len)` for every run covering the
    /// linear range `start..start + len` of the logical order.
    pub fn runs(
        &self,
        start: usize,
        len: usize,
        mut f: impl FnMut(usize, [usize; N], [usize; N], usize),
    ) {
        if len == 0 {
            return;
        }
        let rank = self.dims.len();
        if rank == 0 {
            f(start, self.offsets, [1; N], 1);
            return;
        }
        let inner = self.dims[rank - 1];
        let inner_strides: [usize; N] = std::array::from_fn(|k| self.strides[k][rank - 1]);
        // Unravel `start` into a multi-index over the merged dims.
        let mut idx: DimVec = smallvec::smallvec![0usize; rank];
        let mut rem = start;
        for d in (0..rank).rev() {
            idx[d] = rem % self.dims[d];
            rem /= self.dims[d];
        }
        let mut offs: [usize; N] = std::array::from_fn(|k| {
            self.offsets[k]
                + (0..rank)
                    .map(|d| idx[d] * self.strides[k][d])
                    .sum::<usize>()
        });
        let mut pos = start;
        let end = start + len;
        while pos < end {
            let run = (inner - idx[rank - 1]).min(end - pos);
            f(pos, offs, inner_strides, run);
            pos += run;
            if pos >= end {
                break;
            }
            // Advance to the start of the next run: finish this row, then odometer.
            for (o, s) in offs.iter_mut().zip(inner_strides) {
                *o += run * s;
            }
            idx[rank - 1] += run;
            let mut d = rank - 1;
            while idx[d] == self.dims[d] {
                for (o, s) in offs.iter_mut().zip(&self.strides) {
                    *o -= self.dims[d] * s[d];
                }
                idx[d] = 0;
                if d == 0 {
                    break;
                }
                d -= 1;
                idx[d] += 1;
                for (o, s) in offs.iter_mut().zip(&self.strides) {
                    *o += s[d];
                }
            }
        }
    }

    /// Fills the contiguous `out` (the logical order) by runs, in parallel when large:
    /// `f(out_chunk, offsets, inner_strides)` gets the output slice of one run.
    pub fn fill<T: Send>(
        &self,
        out: &mut [T],
        f: impl Fn(&mut [T], [usize; N], [usize; N]) + Sync + Send,
    ) {
        debug_assert_eq!(out.len(), self.len);
        par::for_each_chunk_mut(out, 4096, |start, chunk| {
            let base = start;
            self.runs(start, chunk.len(), |pos, offs, strides, run| {
                f(&mut chunk[pos - base..pos - base + run], offs, strides);
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_tensor::Shape;

    fn collect<const N: usize>(w: &Walk<N>, start: usize, len: usize) -> Vec<[usize; N]> {
        let mut v = Vec::new();
        w.runs(start, len, |_, offs, st, run| {
            for i in 0..run {
                v.push(std::array::from_fn(|k| offs[k] + i * st[k]));
            }
        });
        v
    }

    #[test]
    fn runs_match_offsets_from_any_start() {
        let a = Layout::contiguous([3, 4, 5]).permute(&[2, 0, 1]).unwrap();
        let b = Layout::contiguous([5, 1, 4])
            .broadcast_to(&Shape::from([5, 3, 4]), "t")
            .unwrap();
        let w = Walk::new([&a, &b]);
        let ea: Vec<usize> = a.offsets().collect();
        let eb: Vec<usize> = b.offsets().collect();
        for start in [0, 1, 7, 12, 59] {
            for len in [0, 1, 5, 60 - start]
                .into_iter()
                .filter(|&l| start + l <= 60)
            {
                let got = collect(&w, start, len);
                let want: Vec<[usize; 2]> = (start..start + len).map(|i| [ea[i], eb[i]]).collect();
                assert_eq!(got, want, "start {start} len {len}");
            }
        }
    }

    #[test]
    fn contiguous_pair_is_one_run() {
        let a = Layout::contiguous([64, 128]);
        let w = Walk::new([&a, &a]);
        assert!(w.all_contiguous());
        let mut runs = 0;
        w.runs(0, w.len(), |_, _, _, _| runs += 1);
        assert_eq!(runs, 1);
    }
}
