/*
 * The networks this build knows. Adding a network is one line here and its
 * adapter's files under adapters/.
 */
#include "adapter.h"

#include <stdio.h>
#include <string.h>

#include "bluesky.h"
#include "linkedin.h"
#include "mastodon.h"
#include "meta.h"
#include "x.h"

static const struct gw_adapter_ops *const registry[] = {
    &mastodon_ops, &x_ops,         &linkedin_ops,
    &facebook_ops, &instagram_ops, &bluesky_ops,
};

const struct gw_adapter_ops *gw_adapter_at(size_t i)
{
    return i < GW_ARRAY_LEN(registry) ? registry[i] : NULL;
}

const struct gw_adapter_ops *gw_adapter_find(const char *network)
{
    const struct gw_adapter_ops *ops;
    for (size_t i = 0; (ops = gw_adapter_at(i)) != NULL; i++)
        if (strcmp(ops->name, network) == 0 &&
            ops->abi_version == GW_ADAPTER_ABI)
            return ops;
    return NULL;
}

void gw_adapter_names(char *buf, size_t size)
{
    const struct gw_adapter_ops *ops;
    size_t n = 0;
    if (size > 0)
        buf[0] = '\0';
    for (size_t i = 0; (ops = gw_adapter_at(i)) != NULL && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i > 0 ? ", " : "",
                              ops->name);
}
