//! Any generated CUDA source's kernels called by name on the host: the kernels' C
//! signatures are read from the source text and a `main` is generated that runs a script
//! of commands (set a buffer's bytes, launch a kernel on buffers and values, read a
//! buffer back), so a test states its launches as the backend's host code makes them.

use std::fmt::Write as _;

use super::Program;
use lamina_tensor::Layout;

/// One parameter of a kernel, as its C declaration says.
#[derive(Clone, Debug, PartialEq)]
enum Param {
    /// `T*` (the C type without the star).
    Pointer(String),
    Strided,
    /// A scalar type: `unsigned long long`, `long long`, `int`, `double`, ...
    Scalar(String),
}

/// Every `extern "C" __global__` kernel of `source`: name and parameters.
fn kernels(source: &str) -> Vec<(String, Vec<Param>)> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("extern \"C\" __global__ void ") {
        rest = &rest[at + "extern \"C\" __global__ void ".len()..];
        let mut head = rest;
        if let Some(b) = head.strip_prefix("__launch_bounds__(") {
            head = &b[b.find(')').unwrap() + 1..];
        }
        let head = head.trim_start();
        let open = head.find('(').unwrap();
        let name = head[..open].trim().to_string();
        let close = head[open..].find(')').unwrap() + open;
        // Split at the commas outside template brackets (`HalfOp<lamina_f16, SumOp<float>>`).
        let mut parts = vec![String::new()];
        let mut depth = 0;
        for ch in head[open + 1..close].chars() {
            match ch {
                '<' => depth += 1,
                '>' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(String::new());
                    continue;
                }
                _ => {}
            }
            parts.last_mut().unwrap().push(ch);
        }
        let params = parts
            .iter()
            .map(|p| {
                let p = p.replace("__restrict__", "").replace("const ", "");
                let p = p.trim();
                if let Some(star) = p.rfind('*') {
                    Param::Pointer(p[..star].trim().to_string())
                } else {
                    let ty = p[..p.rfind(' ').unwrap()].trim().to_string();
                    if ty == "Strided" {
                        Param::Strided
                    } else {
                        Param::Scalar(ty)
                    }
                }
            })
            .collect();
        out.push((name, params));
    }
    out
}

/// A program running scripts of launches of `source`'s kernels.
pub struct Vm {
    program: Program,
    kernels: Vec<(String, Vec<Param>)>,
}

/// A launch argument.
pub enum Arg<'a> {
    /// Buffer `id`'s address (or null for `None`).
    Buf(Option<usize>),
    Strided(&'a Layout),
    /// An integer of any width (passed as the parameter's type).
    Int(i64),
    Float(f64),
}

impl Vm {
    /// Compiles `source` (named `name`) with the dispatcher, or `None` without a C++
    /// compiler.
    pub fn build(name: &str, source: &str) -> Option<Vm> {
        let kernels = kernels(source);
        let meet = source.contains("__syncthreads") || source.contains("__shfl");
        let mut cases = String::new();
        for (i, (k, params)) in kernels.iter().enumerate() {
            let args: Vec<String> = params
                .iter()
                .enumerate()
                .map(|(j, p)| match p {
                    Param::Pointer(t) => format!("({t}*)ptr[{j}]"),
                    Param::Strided => format!("lay[{j}]"),
                    Param::Scalar(t) if t == "double" || t == "float" => format!("({t})real[{j}]"),
                    Param::Scalar(t) => format!("({t})word[{j}]"),
                })
                .collect();
            // Sources whose threads never meet need no fibers (and compile faster).
            let launch = if meet {
                "if (coop) launch_coop(blocks, threads, f); else launch(blocks, threads, f);"
            } else {
                "if (coop) return 9; launch(blocks, threads, f);"
            };
            let _ = writeln!(
                cases,
                "            case {i}: {{ auto f = [&] {{ {k}({}); }}; {launch} break; }}",
                args.join(", ")
            );
        }
        let main = format!(
            r#"
// Commands: 1 id bytes data (a buffer's contents); 2 kernel blocks threads coop nargs,
// then per argument a tag (0 buffer id or -1 for null, 1 Strided, 2 integer, 3 double) and
// its value; 3 id (append the buffer's bytes, padded to 8, to the output).
int main(int, char** argv) {{
    FILE* f = std::fopen(argv[1], "rb");
    if (!f) return 3;
    std::vector<unsigned char> in;
    for (int c; (c = std::fgetc(f)) != EOF;) in.push_back((unsigned char)c);
    std::fclose(f);
    FILE* o = std::fopen(argv[2], "wb");
    if (!o) return 4;
    size_t at = 0;
    auto w = [&] {{ long long v; std::memcpy(&v, &in[at], 8); at += 8; return v; }};
    std::vector<std::vector<unsigned long long>> bufs;
    std::vector<long long> sizes;
    while (at < in.size()) {{
        const long long cmd = w();
        if (cmd == 1) {{
            const long long id = w(), bytes = w();
            if ((long long)bufs.size() <= id) {{ bufs.resize(id + 1); sizes.resize(id + 1); }}
            bufs[id].assign((bytes + 7) / 8 + 1, 0);
            std::memcpy(bufs[id].data(), &in[at], bytes);
            sizes[id] = bytes;
            at += (bytes + 7) / 8 * 8;
        }} else if (cmd == 2) {{
            const long long k = w();
            const unsigned blocks = (unsigned)w(), threads = (unsigned)w();
            const bool coop = w() != 0;
            const long long nargs = w();
            std::vector<void*> ptr(nargs, nullptr);
            std::vector<Strided> lay(nargs);
            std::vector<long long> word(nargs, 0);
            std::vector<double> real(nargs, 0.0);
            for (long long j = 0; j < nargs; ++j) {{
                const long long tag = w();
                if (tag == 0) {{ const long long id = w(); ptr[j] = id < 0 ? nullptr : bufs[id].data(); }}
                else if (tag == 1) {{ std::memcpy(&lay[j], &in[at], sizeof(Strided)); at += sizeof(Strided); }}
                else if (tag == 2) word[j] = w();
                else {{ std::memcpy(&real[j], &in[at], 8); at += 8; }}
            }}
            switch (k) {{
{cases}            default: return 5;
            }}
        }} else if (cmd == 3) {{
            const long long id = w();
            const size_t n = (size_t)(sizes[id] + 7) / 8;
            if (std::fwrite(bufs[id].data(), 8, n, o) != n) return 6;
        }} else return 7;
    }}
    return std::fclose(o) == 0 ? 0 : 8;
}}
"#
        );
        let program = Program::build(name, source, &main)?;
        Some(Vm { program, kernels })
    }

    /// Starts a script.
    pub fn script(&self) -> Script<'_> {
        Script {
            vm: self,
            bytes: Vec::new(),
            sizes: Default::default(),
            reads: Vec::new(),
        }
    }
}

/// Commands for one run of a [`Vm`].
pub struct Script<'a> {
    vm: &'a Vm,
    bytes: Vec<u8>,
    sizes: std::collections::HashMap<usize, usize>,
    reads: Vec<usize>,
}

impl Script<'_> {
    fn word(&mut self, v: i64) {
        self.bytes.extend(v.to_le_bytes());
    }

    /// Sets buffer `id` to `data`.
    pub fn buf(&mut self, id: usize, data: &[u8]) {
        self.word(1);
        self.word(id as i64);
        self.word(data.len() as i64);
        self.sizes.insert(id, data.len());
        self.bytes.extend(data);
        self.bytes.resize(
            self.bytes.len() + data.len().div_ceil(8) * 8 - data.len(),
            0,
        );
    }

    /// Launches `kernel` on `blocks × threads` (as fibers when `coop`: the kernel's
    /// threads meet at barriers).
    pub fn launch(&mut self, kernel: &str, blocks: u32, threads: u32, coop: bool, args: &[Arg]) {
        let (k, params) = self
            .vm
            .kernels
            .iter()
            .enumerate()
            .find(|(_, (n, _))| n == kernel)
            .map(|(i, (_, p))| (i, p.clone()))
            .unwrap_or_else(|| panic!("no kernel {kernel}"));
        assert_eq!(params.len(), args.len(), "{kernel}: {params:?}");
        for v in [
            2,
            k as i64,
            i64::from(blocks),
            i64::from(threads),
            i64::from(coop),
        ] {
            self.word(v);
        }
        self.word(args.len() as i64);
        for (a, p) in args.iter().zip(&params) {
            match (a, p) {
                (Arg::Buf(id), Param::Pointer(_)) => {
                    self.word(0);
                    self.word(id.map_or(-1, |i| i as i64));
                }
                (Arg::Strided(l), Param::Strided) => {
                    self.word(1);
                    self.bytes.extend(super::data::strided(l));
                }
                (Arg::Int(v), Param::Scalar(_)) => {
                    self.word(2);
                    self.word(*v);
                }
                (Arg::Float(v), Param::Scalar(_)) => {
                    self.word(3);
                    self.bytes.extend(v.to_le_bytes());
                }
                _ => panic!("{kernel}: an argument does not fit {p:?}"),
            }
        }
    }

    /// Reads buffer `id` back when the script runs (its bytes, in [`Script::run`]'s
    /// result in the order read).
    pub fn read(&mut self, id: usize) {
        self.word(3);
        self.word(id as i64);
        self.reads.push(self.sizes[&id]);
    }

    /// Runs the script: the bytes of each buffer read.
    pub fn run(self) -> Vec<Vec<u8>> {
        let out = self.vm.program.run_bytes(&self.bytes);
        let mut at = 0;
        let mut res = Vec::new();
        for len in self.reads {
            res.push(out[at..at + len].to_vec());
            at += len.div_ceil(8) * 8;
        }
        assert_eq!(at, out.len(), "output length");
        res
    }
}
