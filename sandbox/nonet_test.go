package sandbox

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandlock/sandlock-runtime/spec"
)

// dialAbstractEnv makes the test binary, run inside a sandbox, connect to the abstract unix
// socket it names and say whether it got through (TestMain).
const dialAbstractEnv = "SANDLOCK_TEST_DIAL_ABSTRACT"

func dialAbstract(name string) int {
	c, err := net.Dial("unix", "@"+name)
	if err != nil {
		fmt.Println("refused:", err)
		return 0
	}
	c.Close()
	fmt.Println("connected")
	return 0
}

// TestNoNetworkAbstractGoAPI: spec.Policy{NoNetwork: true} keeps the host's abstract unix
// sockets out of reach (a network namespace, which no_network stands for, hides them), and
// without it the same connect works (the control).
func TestNoNetworkAbstractGoAPI(t *testing.T) {
	requireKernel(t)
	name := fmt.Sprintf("sandlock-nonet-goapi-%d", os.Getpid())
	ln, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	hits := make(chan struct{}, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hits <- struct{}{}
			c.Close()
		}
	}()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		nonet bool
		want  string
	}{{"no_network", true, "refused:"}, {"unrestricted", false, "connected"}} {
		t.Run(c.name, func(t *testing.T) {
			p, _ := hostPolicy(t)
			p.FSReadable = append(p.FSReadable, self)
			p.NoNetwork = spec.Ptr(c.nonet)
			p.Env = map[string]string{dialAbstractEnv: name}
			res, err := newSandbox(t, p).Run(ctxFor(t, 30*time.Second), []string{self})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(res.Stdout); !strings.HasPrefix(got, c.want) {
				t.Errorf("stdout %q (stderr %q), want %q", got, res.Stderr, c.want)
			}
			if c.nonet {
				select {
				case <-hits:
					t.Errorf("the host's @%s accepted a connection from a no_network sandbox", name)
				default:
				}
				return
			}
			select {
			case <-hits:
			case <-time.After(10 * time.Second): // the accept loop may lag; no timing is asserted
				t.Errorf("the control did not reach @%s", name)
			}
		})
	}
}

// listenEnv makes the test binary, run inside a sandbox, listen on the port it names (bound
// first) and on a socket never bound, and print both results (TestMain).
const listenEnv = "SANDLOCK_TEST_LISTEN"

func listenBoth(port string) int {
	ln, err := net.Listen("tcp4", "127.0.0.1:"+port)
	if err != nil {
		fmt.Println("bound:", err)
	} else {
		fmt.Println("bound: ok")
		ln.Close()
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		err = syscall.Listen(fd, 1)
	}
	if err != nil {
		fmt.Println("unbound:", err)
	} else {
		sa, _ := syscall.Getsockname(fd)
		fmt.Println("unbound: listening on", sa.(*syscall.SockaddrInet4).Port)
	}
	return 0
}

// TestNetBindListenGoAPI: under spec.Policy{NetBind}, a listen on the listed port works and a
// listen on a socket never bound (which would serve on an ephemeral port) is refused.
func TestNetBindListenGoAPI(t *testing.T) {
	requireKernel(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0") // a port free now
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := hostPolicy(t)
	p.FSReadable = append(p.FSReadable, self)
	p.NetBind = []spec.Port{{Lo: uint16(port), Hi: uint16(port)}}
	p.Env = map[string]string{listenEnv: strconv.Itoa(port)}
	res, err := newSandbox(t, p).Run(ctxFor(t, 30*time.Second), []string{self})
	if err != nil {
		t.Fatal(err)
	}
	if want := "bound: ok\nunbound: permission denied\n"; string(res.Stdout) != want {
		t.Errorf("stdout %q (stderr %q), want %q", res.Stdout, res.Stderr, want)
	}
}
