//! Creation from Rust data with the shape inferred (`Tensor::new(&[[1., 2.], [3., 4.]])`),
//! typed ranges (`Tensor::arange_of(0i64, 10, 1)`), and the nested read-backs
//! (`to_vec2`, `to_vec3`).

use crate::{DType, Device, Element, Error, Result, Tensor};

/// Rust data a tensor can be built from: a scalar, or arrays, slices and `Vec`s of
/// nested data with equal lengths at each level. The element type gives the dtype
/// (`f64` literals make an F64 tensor; write `1f32` or `[1.0f32, 2.0]` for F32).
pub trait NestedData {
    type Elem: Element;
    /// Appends the extents of this level and the ones below (the first element's).
    fn push_dims(&self, dims: &mut Vec<usize>);
    /// Appends the elements in row-major order, checking that this level has the extents
    /// `dims` (an error names the ragged level).
    fn push_elems(&self, dims: &[usize], out: &mut Vec<Self::Elem>) -> Result<()>;
}

macro_rules! scalar_data {
    ($($t:ty),*) => {$(
        impl NestedData for $t {
            type Elem = $t;
            fn push_dims(&self, _dims: &mut Vec<usize>) {}
            fn push_elems(&self, _dims: &[usize], out: &mut Vec<$t>) -> Result<()> {
                out.push(*self);
                Ok(())
            }
        }
    )*};
}
scalar_data!(f32, f64, i64, u32, bool);

fn ragged(depth: usize, want: usize, got: usize) -> Error {
    Error::Invalid {
        op: "Tensor::new",
        msg: format!(
            "ragged data: a list {depth} level(s) from the innermost has {got} elements where the first elements had {want}"
        ),
    }
}

impl<D: NestedData> NestedData for [D] {
    type Elem = D::Elem;
    fn push_dims(&self, dims: &mut Vec<usize>) {
        dims.push(self.len());
        if let Some(first) = self.first() {
            first.push_dims(dims);
        }
    }
    fn push_elems(&self, dims: &[usize], out: &mut Vec<D::Elem>) -> Result<()> {
        let want = dims.first().copied().unwrap_or(0);
        if self.len() != want {
            return Err(ragged(dims.len().saturating_sub(1), want, self.len()));
        }
        self.iter()
            .try_for_each(|item| item.push_elems(&dims[1..], out))
    }
}

impl<D: NestedData, const N: usize> NestedData for [D; N] {
    type Elem = D::Elem;
    fn push_dims(&self, dims: &mut Vec<usize>) {
        self.as_slice().push_dims(dims)
    }
    fn push_elems(&self, dims: &[usize], out: &mut Vec<D::Elem>) -> Result<()> {
        self.as_slice().push_elems(dims, out)
    }
}

impl<D: NestedData> NestedData for Vec<D> {
    type Elem = D::Elem;
    fn push_dims(&self, dims: &mut Vec<usize>) {
        self.as_slice().push_dims(dims)
    }
    fn push_elems(&self, dims: &[usize], out: &mut Vec<D::Elem>) -> Result<()> {
        self.as_slice().push_elems(dims, out)
    }
}

impl<D: NestedData + ?Sized> NestedData for &D {
    type Elem = D::Elem;
    fn push_dims(&self, dims: &mut Vec<usize>) {
        (**self).push_dims(dims)
    }
    fn push_elems(&self, dims: &[usize], out: &mut Vec<D::Elem>) -> Result<()> {
        (**self).push_elems(dims, out)
    }
}

/// Element types with exact ranges: integers step in integers (no f64 rounding past
/// 2^53), floats as PyTorch's `arange`.
pub trait RangeElem: Element {
    /// Number of values `start, start + step, ...` below `end` (above, for a negative
    /// step).
    fn count(start: Self, end: Self, step: Self) -> Result<usize>;
    /// `start + i * step`.
    fn nth(start: Self, step: Self, i: usize) -> Self;
}

fn bad_range(start: f64, end: f64, step: f64) -> Error {
    Error::Invalid {
        op: "arange",
        msg: format!(
            "need finite start and end and a non-zero step that moves from {start} toward {end}, got step {step}"
        ),
    }
}

macro_rules! float_range {
    ($($t:ty),*) => {$(
        impl RangeElem for $t {
            fn count(start: Self, end: Self, step: Self) -> Result<usize> {
                let (s, e, st) = (start.to_f64(), end.to_f64(), step.to_f64());
                if st == 0.0 || !s.is_finite() || !e.is_finite() || !st.is_finite() || (e - s) * st < 0.0 {
                    return Err(bad_range(s, e, st));
                }
                Ok(((e - s) / st).ceil().max(0.0) as usize)
            }
            fn nth(start: Self, step: Self, i: usize) -> Self {
                <$t>::from_f64(start.to_f64() + i as f64 * step.to_f64())
            }
        }
    )*};
}
float_range!(f32, f64, half::f16, half::bf16);

macro_rules! int_range {
    ($($t:ty),*) => {$(
        impl RangeElem for $t {
            fn count(start: Self, end: Self, step: Self) -> Result<usize> {
                let (s, e, st) = (start as i128, end as i128, step as i128);
                if st == 0 || (e - s) * st.signum() < 0 {
                    return Err(bad_range(s as f64, e as f64, st as f64));
                }
                Ok(((e - s + st - st.signum()) / st).max(0) as usize)
            }
            fn nth(start: Self, step: Self, i: usize) -> Self {
                (start as i128 + i as i128 * step as i128) as $t
            }
        }
    )*};
}
int_range!(i64, u32);

impl Tensor {
    /// A tensor from nested Rust data, the shape inferred (`&[[1., 2.], [3., 4.]]` is
    /// `[2, 2]`, a bare scalar is 0-d); the element type gives the dtype.
    ///
    /// ```
    /// # use lamina_tensor::{DType, Tensor};
    /// # fn demo(dev: &lamina_tensor::Device) -> lamina_tensor::Result<()> {
    /// let x = Tensor::new(&[[1f32, 2.], [3., 4.]], dev)?;
    /// assert_eq!(x.dims(), &[2, 2]);
    /// assert_eq!(x.to_vec2::<f32>()?, vec![vec![1., 2.], vec![3., 4.]]);
    /// # Ok(()) }
    /// ```
    pub fn new<D: NestedData>(data: D, device: &Device) -> Result<Tensor> {
        let mut dims = Vec::new();
        data.push_dims(&mut dims);
        let mut flat = Vec::with_capacity(dims.iter().product());
        data.push_elems(&dims, &mut flat)?;
        Tensor::from_vec(flat, dims, device)
    }

    /// `start, start + step, ...` up to but excluding `end`, in the type of the bounds
    /// (`Tensor::arange_of(0i64, 5, 1, &dev)` is an I64 `[0, 1, 2, 3, 4]`, exact for every
    /// integer).
    pub fn arange_of<T: RangeElem>(start: T, end: T, step: T, device: &Device) -> Result<Tensor> {
        let n = T::count(start, end, step)?;
        crate::Shape::from(n).checked_size(T::DTYPE.size_in_bytes(), "arange")?;
        let v: Vec<T> = (0..n).map(|i| T::nth(start, step, i)).collect();
        Tensor::from_vec(v, [n], device)
    }

    /// `steps` values `base^x` for `x` evenly spaced from `start` to `end` (PyTorch
    /// `logspace`).
    pub fn logspace(
        start: f64,
        end: f64,
        steps: usize,
        base: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let x = Tensor::linspace(start, end, steps, DType::F64, device)?;
        let b = x.full_like(base)?;
        b.pow(&x)?.to_dtype(dtype)
    }

    /// The `n × m` matrix with ones on the diagonal (PyTorch `eye(n, m)`).
    pub fn eye_nm(n: usize, m: usize, dtype: DType, device: &Device) -> Result<Tensor> {
        let mut v = vec![0.0; crate::Shape::from_dims(&[n, m]).checked_size(8, "eye")?];
        for i in 0..n.min(m) {
            v[i * m + i] = 1.0;
        }
        Tensor::from_host(crate::HostData::from_f64_vec(&v, dtype), [n, m], device)
    }

    /// The elements of a 2-D tensor as rows (`T` must match the dtype).
    pub fn to_vec2<T: Element>(&self) -> Result<Vec<Vec<T>>> {
        self.check_rank(2, "to_vec2")?;
        let cols = self.dims()[1];
        let flat = self.read_vec::<T>("to_vec2")?;
        Ok(if cols == 0 {
            vec![Vec::new(); self.dims()[0]]
        } else {
            flat.chunks(cols).map(<[T]>::to_vec).collect()
        })
    }

    /// The elements of a 3-D tensor as nested rows (`T` must match the dtype).
    pub fn to_vec3<T: Element>(&self) -> Result<Vec<Vec<Vec<T>>>> {
        self.check_rank(3, "to_vec3")?;
        let (rows, cols) = (self.dims()[1], self.dims()[2]);
        // Read (and check the dtype) even when there is no element.
        let flat = self.read_vec::<T>("to_vec3")?;
        Ok((0..self.dims()[0])
            .map(|i| {
                (0..rows)
                    .map(|j| flat[(i * rows + j) * cols..][..cols].to_vec())
                    .collect()
            })
            .collect())
    }

    fn check_rank(&self, rank: usize, op: &'static str) -> Result<()> {
        if self.rank() != rank {
            return Err(Error::Invalid {
                op,
                msg: format!("needs a tensor of rank {rank}, got shape {}", self.shape()),
            });
        }
        Ok(())
    }
}
