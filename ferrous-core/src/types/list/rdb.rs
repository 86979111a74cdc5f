//! Node-level access to a [`List`] for the RDB codec: whole nodes read and appended as
//! listpacks, as Redis 7.0 saves and loads quicklists.
use super::*;

impl List {
    /// The nodes, head to tail, each as an iterator over its elements (its `len()` is the
    /// node's element count). The RDB writer mirrors this layout, one listpack per node, as
    /// Redis's DUMP and SAVE do.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = Iter<'_>> + '_ {
        let nodes = &self.nodes;
        nodes.iter().enumerate().map(move |(i, n)| Iter {
            nodes,
            front: (i, 0),
            back: (i, n.buf.len()),
            remaining: n.count(),
        })
    }

    /// The entries of node `i` as Redis listpack entries, and their count, when they are
    /// byte for byte what a Redis listpack holds: the encodings are the same, except that
    /// Redis gives a payload of exactly 16383, 2097151 or 268435455 bytes a back-length one
    /// byte longer, so a node big enough for such an entry (16385 bytes or more) is `None`
    /// (its elements are then encoded one by one).
    pub fn node_listpack_entries(&self, i: usize) -> Option<(&[u8], usize)> {
        let n = self.nodes.get(i)?;
        (n.buf.len() < 16_385).then_some((&n.buf[..], n.count()))
    }

    /// Appends `elems` as one new node at the tail, whatever its size and this list's fill:
    /// how Redis 7.0 appends a node read from an RDB file (`quicklistAppendListpack`;
    /// redis-server 7.0.15 neither splits nor merges loaded nodes). Strings that are
    /// canonical integers are stored as integers, as always. Nothing is appended for no
    /// elements. `bytes` is the expected size of the node (a listpack's length bounds it),
    /// so that it is allocated once.
    pub fn push_back_node<'a>(&mut self, elems: impl IntoIterator<Item = Elem<'a>>, bytes: usize) {
        let mut buf: Vec<u8> = Vec::with_capacity(bytes);
        let mut count = 0u32;
        for e in elems {
            let e = match e {
                Elem::Bytes(b) => Elem::from_bytes(b),
                e => e,
            };
            let size = entry_size(e);
            let off = buf.len();
            buf.resize(off + size, 0);
            write_entry(&mut buf[off..], e);
            count += 1;
        }
        if count == 0 {
            return;
        }
        buf.shrink_to_fit();
        if let Some(n) = self.nodes.back_mut() {
            n.buf.shrink_to_fit();
        }
        self.reserve_node();
        self.nodes.push_back(Node { buf: NodeBuf::from_vec(buf, count) });
        self.set_len(self.len() + count as usize);
    }

    /// Appends a node made of `entries` (the entries of a listpack read from a file, header
    /// and terminator excluded) copied as they are, when they are byte for byte what this
    /// list stores for their elements: every entry well-formed and inside `entries`, strings
    /// that are not canonical integers, integers in their smallest encoding, back-lengths as
    /// Ferrous writes them, and `count` of them (`None`: any count). Redis's listpacks are
    /// all that (but for an entry whose payload is exactly 16383 bytes). Returns false,
    /// appending nothing, otherwise: the caller then decodes the elements
    /// ([`List::push_back_node`]). An empty `entries` appends nothing.
    pub fn push_back_packed(&mut self, entries: &[u8], count: Option<usize>) -> bool {
        let mut off = 0;
        let mut n = 0usize;
        while off < entries.len() {
            let Some((e, l)) = checked_payload(entries, off) else { return false };
            if payload_len(e) != l {
                return false;
            }
            if let Elem::Bytes(b) = e {
                if matches!(b.first(), Some(b'-' | b'0'..=b'9')) && ferrous_resp::parse_i64(b).is_some() {
                    return false;
                }
            }
            let k = backlen_len(l);
            let Some(back) = entries.get(off + l..off + l + k) else { return false };
            if (0..k).any(|j| back[k - 1 - j] != ((l >> (7 * j)) & 0x7F) as u8 | if j + 1 < k { 0x80 } else { 0 }) {
                return false;
            }
            off += l + k;
            n += 1;
        }
        if count.is_some_and(|c| c != n) || u32::try_from(n).is_err() {
            return false;
        }
        if n > 0 {
            if let Some(last) = self.nodes.back_mut() {
                last.buf.shrink_to_fit();
            }
            self.reserve_node();
            self.nodes.push_back(Node { buf: NodeBuf::from_vec(entries.to_vec(), n as u32) });
            self.set_len(self.len() + n);
        }
        true
    }

    /// Appends one element as RPUSH does (the old list encodings of RDB files: Redis 7.0
    /// pushes their elements one by one).
    pub fn push_back_elem(&mut self, e: Elem<'_>) {
        let e = match e {
            Elem::Bytes(b) => Elem::from_bytes(b),
            e => e,
        };
        self.push_elem_back(e);
    }
}
