/*
 * The autograd tape: nodes, the op table and the backward pass.
 *
 * An op whose input requires grad (with grad mode on) records one node on
 * its output: which op, edges to the inputs (their producing node, or the
 * leaf tensor itself), the tensors its backward needs, and its parameters.
 * backward walks the nodes reachable from the root in reverse topological
 * order, skipping nodes that lead to no wanted gradient, and frees each
 * node's gradient as soon as it has been passed on.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

static const struct {
    const char *name;
    int n_inputs;
    mg_backward_fn backward;
} op_table[] = {
#define MG_OP(name, nin) {#name, nin, mg_bw_##name},
#include "ops.def"
#undef MG_OP
};
_Static_assert(sizeof op_table / sizeof op_table[0] == MG_OP_COUNT, "op table and op enum differ");

int mg_op_count(void) { return MG_OP_COUNT; }
const char *mg_op_name(int op) { return op >= 0 && op < MG_OP_COUNT ? op_table[op].name : NULL; }
const char *mg_grad_fn_name(const mg_tensor *t) { return t->grad_fn ? op_table[t->grad_fn->op].name : ""; }

static bool grad_enabled = true;
bool mg_grad_enabled(void) { return grad_enabled; }
void mg_set_grad_enabled(bool on) { grad_enabled = on; }

int mg_set_requires_grad(mg_tensor *t, bool on) {
    if (t->grad_fn) {
        if (on) return MG_OK;
        return mg_error("requires_grad_: only leaf tensors can stop requiring grad; "
                        "this one was made by %s (use detach())", mg_grad_fn_name(t));
    }
    if (on && t->dtype != MG_F32)
        return mg_error("requires_grad_: only float32 tensors can require grad, got %s", mg_dtype_name(t->dtype));
    t->requires_grad = on;
    return MG_OK;
}

/* ---- nodes --------------------------------------------------------------- */

typedef struct {
    mg_node **v;
    int n, cap;
} node_vec;

static int vec_push(node_vec *s, mg_node *n) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        mg_node **v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) return mg_error("backward: out of memory");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = n;
    return MG_OK;
}

static void release_saved(mg_node *n) {
    for (int k = 0; k < n->n_saved; k++) {
        mg_release(n->saved[k].t);
        n->saved[k].t = NULL;
    }
}

/* Iterative, so a chain of a million nodes does not overflow the C stack. */
void mg_node_release(mg_node *n) {
    if (!n) return;
    node_vec stack = {0};
    mg_node *cur = n;
    for (;;) {
        if (--cur->refcount == 0) {
            release_saved(cur);
            if (cur->saved != cur->saved_inline) free(cur->saved);
            free(cur->params);
            mg_release(cur->grad);
            for (int k = 0; k < cur->n_inputs; k++) {
                mg_release(cur->in[k].leaf);
                if (cur->in[k].fn && vec_push(&stack, cur->in[k].fn) != MG_OK) {
                    /* cannot grow the stack: fall back to recursion for this edge */
                    mg_node_release(cur->in[k].fn);
                }
            }
            free(cur);
        }
        if (stack.n == 0) break;
        cur = stack.v[--stack.n];
    }
    free(stack.v);
}

bool mg_needs_grad(int n, mg_tensor *const *inputs) {
    if (!grad_enabled) return false;
    for (int k = 0; k < n; k++)
        if (inputs[k] && inputs[k]->requires_grad) return true;
    return false;
}

mg_node *mg_record(int op, mg_tensor *out, int n_in, mg_tensor *const *inputs) {
    mg_node *n = calloc(1, sizeof *n);
    if (!n) {
        mg_error("%s: out of memory recording the graph", op_table[op].name);
        return NULL;
    }
    n->refcount = 1;
    n->op = op;
    n->n_inputs = n_in;
    n->saved = n->saved_inline;
    n->cap_saved = MG_NODE_INLINE_SAVED;
    for (int k = 0; k < n_in; k++) {
        mg_tensor *in = inputs[k];
        if (!in) continue;
        n->in[k].ndim = in->ndim;
        memcpy(n->in[k].shape, in->shape, sizeof in->shape);
        if (!in->requires_grad) continue;
        if (in->grad_fn) {
            n->in[k].fn = in->grad_fn;
            in->grad_fn->refcount++;
        } else {
            n->in[k].leaf = mg_retain(in);
        }
    }
    n->out_ndim = out->ndim;
    memcpy(n->out_shape, out->shape, sizeof out->shape);
    mg_node_release(out->grad_fn);
    out->grad_fn = n;
    out->requires_grad = true;
    return n;
}

int mg_save(mg_node *n, mg_tensor *t) {
    if (n->n_saved == n->cap_saved) {
        int cap = n->cap_saved * 2;
        mg_saved_slot *v = malloc((size_t)cap * sizeof *v);
        if (!v) return mg_error("%s: out of memory saving a tensor for backward", op_table[n->op].name);
        memcpy(v, n->saved, (size_t)n->n_saved * sizeof *v);
        if (n->saved != n->saved_inline) free(n->saved);
        n->saved = v;
        n->cap_saved = cap;
    }
    n->saved[n->n_saved].t = mg_retain(t);
    n->saved[n->n_saved].version = t->storage->version;
    n->n_saved++;
    return MG_OK;
}

void *mg_node_params(mg_node *n, size_t size) {
    if (!n->params && !(n->params = calloc(1, size ? size : 1)))
        mg_error("%s: out of memory recording the op's parameters", op_table[n->op].name);
    return n->params;
}

int mg_save_output(mg_node *n, mg_tensor *out) {
    mg_tensor *alias = mg_detach(out);
    if (!alias) return MG_ERR;
    int rc = mg_save(n, alias);
    mg_release(alias);
    return rc;
}

mg_tensor *mg_saved(mg_node *n, int k) {
    mg_tensor *t = k >= 0 && k < n->n_saved ? n->saved[k].t : NULL;
    if (!t) {
        mg_error("backward: the graph through %s was freed by an earlier backward; "
                 "pass retain_graph = true to keep it", op_table[n->op].name);
        return NULL;
    }
    if (t->storage->version != n->saved[k].version) {
        mg_error("backward: a tensor saved by %s was modified in place after the forward pass "
                 "(version %u, saved at %u)", op_table[n->op].name, t->storage->version, n->saved[k].version);
        return NULL;
    }
    return t;
}

mg_tensor *mg_finish_unary(int op, mg_tensor *out, mg_tensor *in, bool save_in, bool save_out) {
    if (!out || !mg_needs_grad(1, &in)) return out;
    mg_node *n = mg_record(op, out, 1, &in);
    if (!n || (save_in && mg_save(n, in)) || (save_out && mg_save_output(n, out))) {
        mg_release(out);
        return NULL;
    }
    return out;
}

/* ---- the backward pass ------------------------------------------------------ */

static int visit_epoch;

/* Post-order of the nodes reachable from roots: inputs before consumers. */
static int topo_order(int n_roots, mg_node **roots, node_vec *order) {
    visit_epoch++;
    node_vec stack = {0};
    node_vec edge_pos = {0}; /* parallel stack of next-edge indices, stored as pointers */
    int rc = MG_OK;
    for (int r = 0; r < n_roots && rc == MG_OK; r++) {
        if (!roots[r] || roots[r]->visit == visit_epoch) continue;
        roots[r]->visit = visit_epoch;
        rc = vec_push(&stack, roots[r]);
        if (rc == MG_OK) rc = vec_push(&edge_pos, NULL);
        while (rc == MG_OK && stack.n > 0) {
            mg_node *cur = stack.v[stack.n - 1];
            intptr_t k = (intptr_t)edge_pos.v[edge_pos.n - 1];
            while (k < cur->n_inputs && (!cur->in[k].fn || cur->in[k].fn->visit == visit_epoch)) k++;
            if (k < cur->n_inputs) {
                edge_pos.v[edge_pos.n - 1] = (mg_node *)(k + 1);
                mg_node *next = cur->in[k].fn;
                next->visit = visit_epoch;
                rc = vec_push(&stack, next);
                if (rc == MG_OK) rc = vec_push(&edge_pos, NULL);
            } else {
                stack.n--;
                edge_pos.n--;
                rc = vec_push(order, cur);
            }
        }
    }
    free(stack.v);
    free(edge_pos.v);
    return rc;
}

/* Adds g into *slot, taking ownership of g. */
static int accumulate(mg_tensor **slot, mg_tensor *g) {
    if (!*slot) {
        *slot = g;
        return MG_OK;
    }
    mg_tensor *s = *slot;
    if (s->refcount == 1 && s->storage->refcount == 1 && mg_is_contiguous(s) && mg_same_shape(s, g) &&
        !s->requires_grad) {
        int rc = mg_add_(s, g, 1.0);
        mg_release(g);
        return rc;
    }
    mg_tensor *sum = mg_add(s, g);
    mg_release(g);
    if (!sum) return MG_ERR;
    mg_release(s);
    *slot = sum;
    return MG_OK;
}

/* .grad of a leaf: the first gradient is kept (copied if shared), later ones added. */
static int accumulate_leaf(mg_tensor *leaf, mg_tensor *g) {
    if (!leaf->grad) {
        if (g->refcount == 1 && g->storage->refcount == 1 && mg_is_contiguous(g)) {
            leaf->grad = g;
            return MG_OK;
        }
        leaf->grad = mg_to_dtype(g, MG_F32);
        mg_release(g);
        return leaf->grad ? MG_OK : MG_ERR;
    }
    int rc = mg_add_(leaf->grad, g, 1.0);
    mg_release(g);
    return rc;
}

typedef struct {
    int n_targets;
    mg_tensor *const *targets; /* NULL: accumulate into leaves' .grad */
    mg_tensor **result;
} grad_sink;

static bool leaf_wanted(const grad_sink *sink, const mg_tensor *leaf) {
    if (!sink->targets) return leaf->requires_grad;
    for (int t = 0; t < sink->n_targets; t++)
        if (sink->targets[t] == leaf) return true;
    return false;
}

static int target_index(const grad_sink *sink, const mg_node *n) {
    if (!sink->targets) return -1;
    for (int t = 0; t < sink->n_targets; t++)
        if (sink->targets[t]->grad_fn == n) return t;
    return -1;
}

static int deliver_leaf(const grad_sink *sink, mg_tensor *leaf, mg_tensor *g) {
    if (!sink->targets) return accumulate_leaf(leaf, g);
    int rc = MG_OK;
    bool used = false;
    for (int t = 0; t < sink->n_targets && rc == MG_OK; t++) {
        if (sink->targets[t] != leaf) continue;
        rc = accumulate(&sink->result[t], used ? mg_retain(g) : g);
        used = true;
    }
    if (!used) mg_release(g);
    return rc;
}

static int run_node(mg_node *n, const grad_sink *sink) {
    const char *name = op_table[n->op].name;
    if (n->released)
        return mg_error("backward: the graph through %s was freed by an earlier backward; "
                        "pass retain_graph = true to keep it", name);
    int t = target_index(sink, n);
    if (t >= 0 && accumulate(&sink->result[t], mg_retain(n->grad)) != MG_OK) return MG_ERR;
    bool needs[MG_NODE_MAX_INPUTS] = {false}, any = false;
    for (int k = 0; k < n->n_inputs; k++) {
        needs[k] = (n->in[k].fn && n->in[k].fn->useful) || (n->in[k].leaf && leaf_wanted(sink, n->in[k].leaf));
        any = any || needs[k];
    }
    if (!any) return MG_OK;
    mg_tensor *gin[MG_NODE_MAX_INPUTS] = {NULL};
    if (op_table[n->op].backward(n, n->grad, needs, gin) != MG_OK) {
        for (int k = 0; k < n->n_inputs; k++) mg_release(gin[k]);
        return MG_ERR;
    }
    int rc = MG_OK;
    for (int k = 0; k < n->n_inputs; k++) {
        mg_tensor *g = gin[k];
        if (!needs[k] || rc != MG_OK) {
            mg_release(g);
            continue;
        }
        if (!g || g->ndim != n->in[k].ndim ||
            memcmp(g->shape, n->in[k].shape, sizeof(int64_t) * (size_t)g->ndim) != 0) {
            char want[MG_SHAPE_BUF];
            rc = mg_error("backward of %s: gradient for input %d has shape %s, expected %s", name, k + 1,
                          g ? mg_shp(g) : "(none)", mg_shape_str_raw(n->in[k].ndim, n->in[k].shape, want, sizeof want));
            mg_release(g);
            continue;
        }
        if (n->in[k].fn) rc = accumulate(&n->in[k].fn->grad, g);
        else rc = deliver_leaf(sink, n->in[k].leaf, g);
    }
    return rc;
}

static int check_seed(const char *op, mg_tensor *root, const mg_tensor *seed, mg_tensor **out) {
    if (!root->requires_grad)
        return mg_error("%s: the output does not require grad (no input required grad, or grad mode was off)", op);
    if (seed) {
        if (!mg_same_shape(seed, root))
            return mg_error("%s: gradient %s does not match output %s", op, mg_shp(seed), mg_shp(root));
        *out = mg_to_dtype(seed, MG_F32);
    } else {
        if (mg_numel(root) != 1)
            return mg_error("%s: the output has %lld elements; give a gradient for a non-scalar output",
                            op, (long long)mg_numel(root));
        *out = mg_full(MG_F32, root->ndim, root->shape, 1.0);
    }
    return *out ? MG_OK : MG_ERR;
}

static int run_backward(const char *op, int n_roots, mg_tensor *const *roots, mg_tensor *const *seeds,
                        const grad_sink *sink, bool retain_graph) {
    node_vec order = {0};
    mg_node *root_nodes[64];
    int rc = MG_OK;
    if (n_roots > 64) return mg_error("%s: at most 64 outputs at once", op);
    bool was_enabled = grad_enabled;
    grad_enabled = false;
    for (int r = 0; r < n_roots; r++) root_nodes[r] = roots[r]->grad_fn;
    rc = topo_order(n_roots, root_nodes, &order);
    /* usefulness, inputs first: a node is useful if a wanted gradient lies behind it */
    for (int i = 0; i < order.n && rc == MG_OK; i++) {
        mg_node *n = order.v[i];
        n->useful = target_index(sink, n) >= 0;
        for (int k = 0; k < n->n_inputs && !n->useful; k++)
            n->useful = (n->in[k].fn && n->in[k].fn->useful) || (n->in[k].leaf && leaf_wanted(sink, n->in[k].leaf));
    }
    /* seed the roots */
    for (int r = 0; r < n_roots && rc == MG_OK; r++) {
        mg_tensor *seed = NULL;
        rc = check_seed(op, roots[r], seeds ? seeds[r] : NULL, &seed);
        if (rc != MG_OK) break;
        if (roots[r]->grad_fn) rc = accumulate(&roots[r]->grad_fn->grad, seed);
        else if (leaf_wanted(sink, roots[r])) rc = deliver_leaf(sink, roots[r], seed);
        else mg_release(seed);
    }
    for (int i = order.n - 1; i >= 0 && rc == MG_OK; i--) {
        mg_node *n = order.v[i];
        if (n->useful && n->grad) rc = run_node(n, sink);
        mg_release(n->grad);
        n->grad = NULL;
        /* Nothing else reads what this node saved: free it now rather than
         * after the whole pass, so activations go while gradients come. */
        if (!retain_graph && rc == MG_OK && n->useful) {
            release_saved(n);
            n->released = true;
        }
    }
    for (int i = 0; i < order.n; i++) {
        mg_release(order.v[i]->grad);
        order.v[i]->grad = NULL;
        if (!retain_graph && rc == MG_OK) {
            release_saved(order.v[i]);
            order.v[i]->released = true;
        }
    }
    free(order.v);
    grad_enabled = was_enabled;
    return rc;
}

int mg_backward(mg_tensor *root, const mg_tensor *grad_root, bool retain_graph) {
    grad_sink sink = {0, NULL, NULL};
    mg_tensor *seeds[1] = {(mg_tensor *)grad_root};
    return run_backward("backward", 1, &root, seeds, &sink, retain_graph);
}

int mg_grad(int n_out, mg_tensor *const *outputs, mg_tensor *const *grad_outputs, int n_in,
            mg_tensor *const *inputs, mg_tensor **result, bool retain_graph) {
    for (int t = 0; t < n_in; t++) {
        result[t] = NULL;
        if (!inputs[t]->requires_grad)
            return mg_error("grad: input %d does not require grad (call requires_grad_() on it first)", t + 1);
    }
    grad_sink sink = {n_in, inputs, result};
    int rc = run_backward("grad", n_out, outputs, grad_outputs, &sink, retain_graph);
    for (int t = 0; t < n_in && rc == MG_OK; t++) {
        if (!result[t]) result[t] = mg_zeros(MG_F32, inputs[t]->ndim, inputs[t]->shape);
        if (!result[t]) rc = MG_ERR;
    }
    if (rc != MG_OK)
        for (int t = 0; t < n_in; t++) {
            mg_release(result[t]);
            result[t] = NULL;
        }
    return rc;
}
