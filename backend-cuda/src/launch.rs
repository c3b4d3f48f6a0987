//! Host-side launch logic, testable without a GPU: an operand's layout as the kernels'
//! `Strided` argument ([`StridedArg`], `#[repr(C)]`, the prelude's struct field for field)
//! and the grid of a one-thread-per-element launch ([`grid_for`]).

use lamina_tensor::{Error, Layout, PoolGeometry, Result};

/// Most dims a kernel's layout argument holds (`LAMINA_MAX_DIMS` in the prelude).
pub const MAX_DIMS: usize = 8;

/// Threads per block of the element-wise kernels.
pub const BLOCK: u32 = 256;

/// Most blocks an element-wise launch uses; the grid-stride loop covers the rest, so a
/// huge tensor does not ask for more blocks than keep the device busy.
pub const MAX_BLOCKS: u32 = 1 << 16;

/// The layout of one operand as the kernels read it: element `i` (row-major over `dims`)
/// at `offset + Σ index_d · strides[d]`, or at `offset + i` when `contiguous` is 1.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StridedArg {
    pub n: u64,
    pub offset: i64,
    pub rank: i32,
    pub contiguous: i32,
    pub dims: [i64; MAX_DIMS],
    pub strides: [i64; MAX_DIMS],
}

impl StridedArg {
    /// `layout` for a kernel named `op` (for the error message). A contiguous layout takes
    /// the fast path; a rank above [`MAX_DIMS`] is an error naming the op and the shape.
    pub fn new(op: &'static str, layout: &Layout) -> Result<StridedArg> {
        let rank = layout.rank();
        if rank > MAX_DIMS {
            return Err(Error::Invalid {
                op,
                msg: format!(
                    "the CUDA kernels take at most {MAX_DIMS} dims, got {:?}",
                    layout.dims()
                ),
            });
        }
        let mut dims = [1i64; MAX_DIMS];
        let mut strides = [0i64; MAX_DIMS];
        for d in 0..rank {
            dims[d] = layout.dims()[d] as i64;
            strides[d] = layout.strides()[d] as i64;
        }
        Ok(StridedArg {
            n: layout.dims().iter().product::<usize>() as u64,
            offset: layout.offset() as i64,
            rank: rank as i32,
            contiguous: i32::from(layout.is_contiguous()),
            dims,
            strides,
        })
    }

    /// The storage offset of element `i`, as the prelude's `elem_offset` computes it.
    pub fn elem_offset(&self, mut i: u64) -> i64 {
        if self.contiguous != 0 {
            return self.offset + i as i64;
        }
        let mut off = self.offset;
        for d in (0..self.rank as usize).rev() {
            let dim = self.dims[d] as u64;
            off += (i % dim) as i64 * self.strides[d];
            i /= dim;
        }
        off
    }
}

/// `(blocks, threads)` for `n` elements; `None` when there is nothing to launch.
pub fn grid_for(n: u64) -> Option<(u32, u32)> {
    if n == 0 {
        return None;
    }
    let blocks = n.div_ceil(u64::from(BLOCK)).min(u64::from(MAX_BLOCKS)) as u32;
    Some((blocks, BLOCK))
}

/// A reduction over `axes` (sorted, unique) of `layout` as the `reduce_<op>_<d>` kernels
/// read it: the layout permuted so the kept dims come first and the reduced ones last, so
/// output element `o` reduces the row-major run `o · inner .. (o + 1) · inner`; with the
/// number of outputs (`outer`, the kept dims' product: an empty reduced axis still leaves
/// one output, the identity, per kept position) and `inner`.
pub fn reduce_plan(layout: &Layout, axes: &[usize]) -> Result<(Layout, usize, usize)> {
    let rank = layout.rank();
    let mut perm: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
    perm.extend_from_slice(axes);
    let moved = layout.permute(&perm)?;
    let inner: usize = axes.iter().map(|&a| layout.dims()[a]).product();
    let outer: usize = (0..rank)
        .filter(|d| !axes.contains(d))
        .map(|d| layout.dims()[d])
        .product();
    Ok((moved, outer, inner))
}

/// A scan or sort along `axis` as `scan_<op>_<d>` and `argsort_<d>` read it (one thread
/// per line): `layout` with `axis` moved last, and its lines: `(moved, lines, n, inner)` with `n`
/// the axis' length and `inner` the product of the dims after it.
pub fn lines_along(layout: &Layout, axis: usize) -> Result<(Layout, usize, usize, usize)> {
    let rank = layout.rank();
    let mut perm: Vec<usize> = (0..rank).filter(|&d| d != axis).collect();
    perm.push(axis);
    let n = layout.dims()[axis];
    let lines = layout.elem_count().checked_div(n).unwrap_or(0);
    let inner = layout.dims()[axis + 1..].iter().product();
    Ok((layout.permute(&perm)?, lines, n, inner))
}

/// Max pooling's arg-max as `max_pool_indices_<d>` takes it: the planes (`N · C`) and
/// `[h, w, kh, kw, sh, sw, ph, pw, oh, ow]`, a 1-D pooling as 2-D of height 1 (the CPU
/// kernel's view).
pub fn pool_plan(geo: &PoolGeometry) -> (u64, [i64; 10]) {
    let two = |v: &[usize], one: usize| -> [i64; 2] {
        match *v {
            [a, b] => [a as i64, b as i64],
            [b] => [one as i64, b as i64],
            _ => [one as i64, one as i64],
        }
    };
    let [h, w] = two(&geo.input, 1);
    let [kh, kw] = two(&geo.kernel, 1);
    let [sh, sw] = two(&geo.stride, 1);
    let [ph, pw] = two(&geo.padding, 0);
    let [oh, ow] = two(&geo.output, 1);
    (
        (geo.batch * geo.channels) as u64,
        [h, w, kh, kw, sh, sw, ph, pw, oh, ow],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_tensor::Shape;

    /// Every element's offset by walking the multi-index naively.
    fn naive_offsets(l: &Layout) -> Vec<i64> {
        let dims = l.dims();
        let n: usize = dims.iter().product();
        (0..n)
            .map(|mut i| {
                let mut off = l.offset() as i64;
                for d in (0..dims.len()).rev() {
                    off += ((i % dims[d]) * l.strides()[d]) as i64;
                    i /= dims[d];
                }
                off
            })
            .collect()
    }

    #[test]
    fn every_layout_class_reads_the_right_elements() {
        let base = Layout::contiguous(Shape::from([3, 4, 5]));
        let cases = [
            ("contiguous", base.clone()),
            ("transposed", base.permute(&[2, 0, 1]).unwrap()),
            ("narrowed (offset)", base.narrow(1, 1, 2).unwrap()),
            (
                "broadcast",
                Layout::contiguous(Shape::from([4, 1]))
                    .broadcast_to(&Shape::from([3, 4, 5]), "test")
                    .unwrap(),
            ),
            (
                "scalar",
                Layout::contiguous(Shape::from(Vec::<usize>::new())),
            ),
            ("empty", Layout::contiguous(Shape::from([0, 3]))),
        ];
        for (what, l) in cases {
            let arg = StridedArg::new("test", &l).unwrap();
            assert_eq!(arg.contiguous == 1, l.is_contiguous(), "{what}");
            let got: Vec<i64> = (0..arg.n).map(|i| arg.elem_offset(i)).collect();
            assert_eq!(got, naive_offsets(&l), "{what}");
            let want: Vec<i64> = l.offsets().map(|o| o as i64).collect();
            assert_eq!(got, want, "{what}: against Layout::offsets");
        }
    }

    #[test]
    fn too_many_dims_is_an_error_naming_the_op() {
        let l = Layout::contiguous(Shape::from(vec![1; MAX_DIMS + 1]));
        let e = StridedArg::new("unary_exp_f32", &l)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unary_exp_f32") && e.contains("at most 8 dims"),
            "{e}"
        );
    }

    #[test]
    fn grids_cover_every_element_within_the_block_cap() {
        assert_eq!(grid_for(0), None);
        assert_eq!(grid_for(1), Some((1, BLOCK)));
        assert_eq!(grid_for(256), Some((1, BLOCK)));
        assert_eq!(grid_for(257), Some((2, BLOCK)));
        assert_eq!(grid_for(u64::MAX), Some((MAX_BLOCKS, BLOCK)));
        for n in [1u64, 255, 1000, 1 << 20, (1 << 24) + 3] {
            let (b, t) = grid_for(n).unwrap();
            // The grid-stride loop visits i, i + b·t, ...: every index below n once.
            assert!(u64::from(b) * u64::from(t) >= n.min(u64::from(MAX_BLOCKS) * 256));
        }
    }

    #[test]
    fn the_argument_matches_the_prelude_struct_layout() {
        // n, offset: 8 bytes each; rank, contiguous: 4 each; two arrays of 8 i64.
        assert_eq!(
            std::mem::size_of::<StridedArg>(),
            8 + 8 + 4 + 4 + 2 * 8 * MAX_DIMS
        );
        assert_eq!(std::mem::align_of::<StridedArg>(), 8);
    }
}
