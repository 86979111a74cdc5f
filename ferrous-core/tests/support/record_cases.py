"""Records expected replies for case templates against the Redis oracle.
Template lines: [R3] [S] [SHA1] cmd args...   ; '---' resets; '#' comments.
Args: split like oracle.rs split_args; an arg %P%A%B expands to P+str(i) for i in range(A,B)."""
import socket,sys,hashlib
class C:
    def __init__(s,port): s.s=socket.create_connection(("127.0.0.1",port)); s.buf=b""
    def line(s):
        while b"\r\n" not in s.buf: s.buf+=s.s.recv(1<<20)
        l,s.buf=s.buf.split(b"\r\n",1); return l
    def n(s,k):
        while len(s.buf)<k+2: s.buf+=s.s.recv(1<<20)
        d=s.buf[:k]; s.buf=s.buf[k+2:]; return d
    def read(s):
        l=s.line(); t=chr(l[0]); r=l[1:]
        if t=='+': return ('simple',r.decode())
        if t=='-': return ('error',r.decode())
        if t==':': return ('int',int(r))
        if t=='$':
            k=int(r); return ('nil',) if k<0 else ('bulk',s.n(k))
        if t=='=':
            k=int(r); return ('bulk',s.n(k)[4:])
        if t=='_': return ('nil',)
        if t=='*':
            k=int(r); return ('nil',) if k<0 else ('array',[s.read() for _ in range(k)])
        if t=='~': return ('set',[s.read() for _ in range(int(r))])
        if t=='%': return ('map',[(s.read(),s.read()) for _ in range(int(r))])
        if t==',': return ('double',r.decode())
        if t=='#': return ('bool',r.decode())
        if t=='>': return ('push',[s.read() for _ in range(int(r))])
        raise Exception(l)
    def cmd(s,args):
        out=b"*%d\r\n"%len(args)
        for a in args: out+=b"$%d\r\n%s\r\n"%(len(a),a)
        s.s.sendall(out); return s.read()
def fmt(v):
    t=v[0]
    if t=='simple': return '+'+v[1]
    if t=='error': return '-'+v[1]
    if t=='int': return ':%d'%v[1]
    if t=='bulk':
        o='"'
        for c in v[1]:
            if c in (34,92): o+='\\'+chr(c)
            elif 32<=c<=126: o+=chr(c)
            else: o+='\\x%02x'%c
        return o+'"'
    if t=='nil': return 'nil'
    if t=='array': return '['+', '.join(fmt(x) for x in v[1])+']'
    if t=='set': return '~['+', '.join(fmt(x) for x in v[1])+']'
    if t=='push': return '>['+', '.join(fmt(x) for x in v[1])+']'
    if t=='map': return '{'+', '.join(fmt(k)+': '+fmt(x) for k,x in v[1])+'}'
    if t=='double': return ','+v[1]
    if t=='bool': return '#'+v[1]
def split_args(line):
    out=[];cur=None;i=0;b=line.encode('latin1')
    while i<len(b):
        c=b[i]
        if c==32:
            if cur is not None: out.append(bytes(cur)); cur=None
        elif c==34:
            if cur is None: cur=bytearray()
            i+=1
            while i<len(b):
                c=b[i]
                if c==34: break
                if c==92 and i+1<len(b):
                    i+=1; e=b[i]
                    if e==120: cur.append(int(b[i+1:i+3],16)); i+=2
                    elif e==110: cur.append(10)
                    elif e==114: cur.append(13)
                    elif e==116: cur.append(9)
                    else: cur.append(e)
                else: cur.append(c)
                i+=1
        else:
            if cur is None: cur=bytearray()
            cur.append(c)
        i+=1
    if cur is not None: out.append(bytes(cur))
    return out
def expand(args):
    out=[]
    for a in args:
        if a.startswith(b'%') and a.count(b'%')==3:
            _,p,lo,hi=a.split(b'%'); out+= [p+str(i).encode() for i in range(int(lo),int(hi))]
        else: out.append(a)
    return out
def reset(c2):
    c2.cmd([b'flushall']); c2.cmd([b'config',b'set',b'hll-sparse-max-bytes',b'3000'])
def main():
    port=int(sys.argv[1]); src=open(sys.argv[2]).read().splitlines()
    c2=C(port); c3=C(port); c3.cmd([b'hello',b'3']); reset(c2)
    out=[]
    for line in src:
        line=line.rstrip()
        if ' => ' in line: line=line.split(' => ')[0]
        if not line or line.startswith('#'): out.append(line); continue
        if line.startswith('---'): reset(c2); out.append(line); continue
        rest=line; r3=srt=sha=False
        while True:
            if rest.startswith('R3 '): r3=True; rest=rest[3:]
            elif rest.startswith('S '): srt=True; rest=rest[2:]
            elif rest.startswith('SHA1 '): sha=True; rest=rest[5:]
            else: break
        v=(c3 if r3 else c2).cmd(expand(split_args(rest)))
        if srt and v[0] in('array','set'): v=(v[0],sorted(v[1],key=fmt))
        if srt and v[0]=='map': v=(v[0],sorted(v[1],key=lambda kv:fmt(kv[0])))
        f=fmt(v)
        if sha: f='sha1:'+hashlib.sha1(f.encode('latin1')).hexdigest()
        out.append(line+' => '+f)
    print('\n'.join(out))
main()
